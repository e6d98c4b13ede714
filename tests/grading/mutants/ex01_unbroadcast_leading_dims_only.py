"""Mistake: unbroadcast only sums away the *leading* dimensions broadcasting added, and forgets the size-1
dimensions that were stretched (a (3, 1) input broadcast to (3, 4) gets back a (3, 4) gradient)."""

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    extra = grad.ndim - len(shape)
    return grad.sum(axis=tuple(range(extra)))
