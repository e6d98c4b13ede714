"""Mistake: summing every broadcast dimension with ``keepdims=True`` and never reshaping, so added leading
dimensions survive as size-1 axes (a bias of shape (3,) gets a gradient of shape (1, 3))."""

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    extra = grad.ndim - len(shape)
    stretched = tuple(i + extra for i, n in enumerate(shape) if n == 1)
    return grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True)
