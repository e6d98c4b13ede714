"""Mistake: normalising by the sum of the importances (L1) instead of their L2 norm."""
import numpy as np


def gate_sensitivity(gate_gradients):
    importance = np.abs(np.asarray(gate_gradients, dtype=np.float64)).mean(axis=0)
    total = importance.sum()
    return importance / total if total > 0 else importance
