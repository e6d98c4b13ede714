"""Mistake: among equal magnitudes the *higher* index is pruned first (a reversed descending sort), against the
documented rule (lower index first, as PyTorch's topk on CPU in practice and minprune's contract)."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def magnitude_mask(scores, amount, default_mask=None):
    scores = np.asarray(scores)
    mask = np.ones(scores.shape, dtype=np.float32) if default_mask is None else np.array(default_mask)
    k = nparams_to_prune(amount, scores.size)
    order = np.argsort(-np.abs(scores).ravel(), kind="stable")[::-1]  # ascending, but ties reversed
    mask.reshape(-1)[order[:k]] = 0
    return mask
