"""Mistake: prunes ``round(rate · size)`` entries — a rate of *all* weights instead of the still-alive ones —
so later rounds prune far too much (IMP removes p % of what is left)."""
import numpy as np


def imp_step(weight, mask, initial, rate):
    alive = np.flatnonzero(np.ravel(mask))
    k = min(round(rate * np.size(mask)), alive.size)
    drop = alive[np.argsort(np.abs(np.ravel(weight)[alive]), kind="stable")[:k]]
    new_mask = np.array(mask, dtype=np.float32)
    new_mask.reshape(-1)[drop] = 0.0
    return new_mask, np.asarray(initial) * new_mask
