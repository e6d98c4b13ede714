"""Mistake: drops the k smallest |w| over *all* positions, so already-inactive (masked) weights are "dropped"
and the number of active weights grows."""
import numpy as np


def drop_and_grow(mask, weight, grow_scores, k):
    dropped = np.argsort(np.abs(weight), kind="stable")[:k]
    candidates = np.asarray(grow_scores, dtype=np.float64).copy()
    candidates[mask > 0] = -np.inf
    candidates[dropped] = -np.inf
    grown = np.argsort(-candidates, kind="stable")[:k]
    new_mask = np.array(mask, dtype=np.float32)
    new_mask[dropped] = 0.0
    new_mask[grown] = 1.0
    return new_mask, grown
