"""Mistake: int() truncation of rate · alive instead of Python's round (0.35 · 10 = 3.5000000000000004 → 3)."""
import numpy as np


def imp_step(weight, mask, initial, rate):
    alive = np.flatnonzero(np.ravel(mask))
    drop = alive[np.argsort(np.abs(np.ravel(weight)[alive]), kind="stable")[:int(rate * alive.size)]]
    new_mask = np.array(mask, dtype=np.float32)
    new_mask.reshape(-1)[drop] = 0.0
    return new_mask, np.asarray(initial) * new_mask
