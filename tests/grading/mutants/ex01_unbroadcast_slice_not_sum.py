"""Mistake: "undoing" the broadcast by taking the first slice along each stretched dimension (as if the copies
were one input) instead of summing the contributions of all the copies. Leading dimensions are summed."""

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra)))
    index = tuple(slice(0, 1) if n == 1 else slice(None) for n in shape)
    return grad[index]
