"""Mistake: prunes the smallest *signed* trained weights (no absolute value): large negative weights go."""
import numpy as np


def imp_step(weight, mask, initial, rate):
    alive = np.flatnonzero(np.ravel(mask))
    drop = alive[np.argsort(np.ravel(weight)[alive], kind="stable")[:round(rate * alive.size)]]
    new_mask = np.array(mask, dtype=np.float32)
    new_mask.reshape(-1)[drop] = 0.0
    return new_mask, np.asarray(initial) * new_mask
