"""Mistake: the right transposes multiplied in the wrong order, dL/da = bᵀ @ grad and dL/db = grad @ aᵀ
(matrix products do not commute; only square shapes even let it run)."""

import numpy as np

from minprune.tensor import unbroadcast


def matmul_backward(a: np.ndarray, b: np.ndarray, grad: np.ndarray) -> tuple:
    grad_a = np.swapaxes(b, -1, -2) @ grad
    grad_b = grad @ np.swapaxes(a, -1, -2)
    return unbroadcast(grad_a, a.shape), unbroadcast(grad_b, b.shape)
