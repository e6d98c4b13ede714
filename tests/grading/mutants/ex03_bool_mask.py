"""Mistake: returning a boolean keep-mask instead of a float 0/1 mask of the default mask's dtype."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def magnitude_mask(scores, amount, default_mask=None):
    scores = np.asarray(scores)
    keep = np.ones(scores.shape, dtype=bool) if default_mask is None else np.asarray(default_mask) != 0
    k = nparams_to_prune(amount, scores.size)
    keep.reshape(-1)[np.argsort(np.abs(scores).ravel(), kind="stable")[:k]] = False
    return keep
