"""Mistake: the matrix-product gradients without the transposes, dL/da = grad @ b and dL/db = a @ grad
(the values are wrong; the shapes only fit when the matrices are square)."""

import numpy as np

from minprune.tensor import unbroadcast


def matmul_backward(a: np.ndarray, b: np.ndarray, grad: np.ndarray) -> tuple:
    return unbroadcast(grad @ b, a.shape), unbroadcast(a @ grad, b.shape)
