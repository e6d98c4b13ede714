"""Mistake: transposing with ``.T``, which reverses *all* axes: right for 2-D matrices, wrong for a batch of
matrices, whose transpose must swap only the last two axes."""

import numpy as np

from minprune.tensor import unbroadcast


def matmul_backward(a: np.ndarray, b: np.ndarray, grad: np.ndarray) -> tuple:
    return unbroadcast(grad @ b.T, a.shape), unbroadcast(a.T @ grad, b.shape)
