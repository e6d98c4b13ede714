"""Mistake: the 2-D formulas applied to batched products without summing over a broadcast batch dimension,
so a weight matrix shared by a batch gets a (batch, k, m) gradient instead of (k, m)."""

import numpy as np


def matmul_backward(a: np.ndarray, b: np.ndarray, grad: np.ndarray) -> tuple:
    return grad @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ grad
