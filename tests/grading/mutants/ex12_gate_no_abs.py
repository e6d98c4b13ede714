"""Mistake: averaging the signed gate gradients (no absolute value): a head whose gradient flips sign between
batches looks unimportant, and importances can be negative."""
import numpy as np


def gate_sensitivity(gate_gradients):
    importance = np.asarray(gate_gradients, dtype=np.float64).mean(axis=0)
    norm = np.linalg.norm(importance)
    return importance / norm if norm > 0 else importance
