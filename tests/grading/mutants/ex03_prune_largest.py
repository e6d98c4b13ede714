"""Mistake: pruning the entries of *largest* magnitude (sorting in descending order)."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def magnitude_mask(scores, amount, default_mask=None):
    scores = np.asarray(scores)
    mask = np.ones(scores.shape, dtype=np.float32) if default_mask is None else np.array(default_mask)
    k = nparams_to_prune(amount, scores.size)
    order = np.argsort(-np.abs(scores).ravel(), kind="stable")
    mask.reshape(-1)[order[:k]] = 0
    return mask
