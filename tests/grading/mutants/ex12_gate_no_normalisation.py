"""Mistake: forgetting Michel et al.'s per-layer L2 normalisation, so layers with larger gradients dominate."""
import numpy as np


def gate_sensitivity(gate_gradients):
    return np.abs(np.asarray(gate_gradients, dtype=np.float64)).mean(axis=0)
