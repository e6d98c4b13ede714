"""Mistake: writes the new zeros into the caller's mask (the previous round's mask is lost)."""
import numpy as np


def imp_step(weight, mask, initial, rate):
    alive = np.flatnonzero(np.ravel(mask))
    drop = alive[np.argsort(np.abs(np.ravel(weight)[alive]), kind="stable")[:round(rate * alive.size)]]
    mask.reshape(-1)[drop] = 0.0
    return mask, np.asarray(initial) * mask
