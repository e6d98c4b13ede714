"""Mistake: no rewinding — returns the trained weights ⊙ new mask (that is plain pruning + fine-tuning, not a
lottery ticket)."""
import numpy as np


def imp_step(weight, mask, initial, rate):
    alive = np.flatnonzero(np.ravel(mask))
    drop = alive[np.argsort(np.abs(np.ravel(weight)[alive]), kind="stable")[:round(rate * alive.size)]]
    new_mask = np.array(mask, dtype=np.float32)
    new_mask.reshape(-1)[drop] = 0.0
    return new_mask, np.asarray(weight) * new_mask
