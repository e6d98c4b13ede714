"""Mistake: rewinds every entry to its initial value, pruned ones included (initial instead of initial ⊙ mask)."""
import numpy as np


def imp_step(weight, mask, initial, rate):
    alive = np.flatnonzero(np.ravel(mask))
    drop = alive[np.argsort(np.abs(np.ravel(weight)[alive]), kind="stable")[:round(rate * alive.size)]]
    new_mask = np.array(mask, dtype=np.float32)
    new_mask.reshape(-1)[drop] = 0.0
    return new_mask, np.array(initial, copy=True)
