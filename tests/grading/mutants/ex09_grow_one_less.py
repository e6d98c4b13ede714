"""Mistake: an off-by-one, growing k − 1 connections for the k dropped (the layer's count shrinks)."""
import numpy as np


def drop_and_grow(mask, weight, grow_scores, k):
    active = np.flatnonzero(mask)
    dropped = active[np.argsort(np.abs(weight[active]), kind="stable")[:k]]
    candidates = np.asarray(grow_scores, dtype=np.float64).copy()
    candidates[mask > 0] = -np.inf
    candidates[dropped] = -np.inf
    grown = np.argsort(-candidates, kind="stable")[:max(k - 1, 0)]
    new_mask = np.array(mask, dtype=np.float32)
    new_mask[dropped] = 0.0
    new_mask[grown] = 1.0
    return new_mask, grown
