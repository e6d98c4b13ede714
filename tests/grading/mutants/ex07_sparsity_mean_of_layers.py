"""Mistake: global sparsity as the mean of the per-layer sparsities, instead of pooling all entries.

With layers of different sizes (fc1 235 200 weights, fc3 1 000) the mean over-weights the small layers.
"""
import numpy as np


def sparsity_of(weights):
    fractions = [1.0 - np.count_nonzero(w) / w.size for w in map(np.asarray, weights) if w.size]
    return float(np.mean(fractions)) if fractions else 0.0
