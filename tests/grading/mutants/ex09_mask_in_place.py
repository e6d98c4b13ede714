"""Mistake: edits the caller's mask in place and returns it (the caller's old mask is lost)."""
import numpy as np


def drop_and_grow(mask, weight, grow_scores, k):
    active = np.flatnonzero(mask)
    dropped = active[np.argsort(np.abs(weight[active]), kind="stable")[:k]]
    candidates = np.asarray(grow_scores, dtype=np.float64).copy()
    candidates[mask > 0] = -np.inf
    candidates[dropped] = -np.inf
    grown = np.argsort(-candidates, kind="stable")[:k]
    mask[dropped] = 0.0
    mask[grown] = 1.0
    return mask, grown
