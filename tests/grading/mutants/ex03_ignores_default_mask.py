"""Mistake: ignoring `default_mask`, so entries pruned earlier come back to life."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def magnitude_mask(scores, amount, default_mask=None):
    scores = np.asarray(scores)
    mask = np.ones(scores.shape, dtype=np.float32)
    k = nparams_to_prune(amount, scores.size)
    mask.reshape(-1)[np.argsort(np.abs(scores).ravel(), kind="stable")[:k]] = 0
    return mask
