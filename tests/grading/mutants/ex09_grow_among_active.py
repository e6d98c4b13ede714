"""Mistake: grows the k largest grow scores over *all* positions, active ones included (growing a connection
that already exists changes nothing, so the layer loses weights)."""
import numpy as np


def drop_and_grow(mask, weight, grow_scores, k):
    active = np.flatnonzero(mask)
    dropped = active[np.argsort(np.abs(weight[active]), kind="stable")[:k]]
    candidates = np.asarray(grow_scores, dtype=np.float64).copy()
    candidates[dropped] = -np.inf
    grown = np.argsort(-candidates, kind="stable")[:k]
    new_mask = np.array(mask, dtype=np.float32)
    new_mask[dropped] = 0.0
    new_mask[grown] = 1.0
    return new_mask, grown
