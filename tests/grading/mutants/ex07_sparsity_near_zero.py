"""Mistake: counting tiny weights (|w| < 1e-8) as zeros, as if a small trained weight were a pruned one.

Sparsity counts exact zeros: the entries a mask removed.
"""
import numpy as np


def sparsity_of(weights):
    arrays = [np.asarray(w) for w in weights]
    total = sum(a.size for a in arrays)
    if total == 0:
        return 0.0
    return sum(int(np.sum(np.abs(a) < 1e-8)) for a in arrays) / total
