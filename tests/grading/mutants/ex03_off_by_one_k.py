"""Mistake: off-by-one — taking sorted[k] (the (k+1)-th smallest) instead of sorted[k - 1], the k-th smallest."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def global_magnitude_threshold(weights, amount):
    pooled = np.sort(np.concatenate([np.abs(np.ravel(w)) for w in weights]))
    k = nparams_to_prune(amount, pooled.size)
    if k == 0:
        return 0.0
    return float(pooled[min(k, pooled.size - 1)])
