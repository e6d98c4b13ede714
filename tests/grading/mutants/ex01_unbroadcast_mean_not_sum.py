"""Mistake: averaging the gradient over the broadcast dimensions instead of summing it. An input used k times
receives k contributions to its gradient; the mean divides them by k."""

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    stretched = tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    return grad.mean(axis=tuple(range(extra)) + stretched, keepdims=True).reshape(shape)
