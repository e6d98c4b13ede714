"""Mistake: summing the signed gradients over batches and taking the absolute value at the end, |Σ_b g_b|, instead
of the mean of |g_b| — opposite-signed batches cancel."""
import numpy as np


def gate_sensitivity(gate_gradients):
    importance = np.abs(np.asarray(gate_gradients, dtype=np.float64).sum(axis=0))
    norm = np.linalg.norm(importance)
    return importance / norm if norm > 0 else importance
