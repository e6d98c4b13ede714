"""Mistake: dividing by the norm unconditionally — all-zero gradients give 0/0 = NaN importances."""
import numpy as np


def gate_sensitivity(gate_gradients):
    importance = np.abs(np.asarray(gate_gradients, dtype=np.float64)).mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return importance / np.linalg.norm(importance)
