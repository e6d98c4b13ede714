"""Mistake: adding the zero point again when dequantizing ((q + z) · s) instead of undoing it ((q − z) · s)."""
import numpy as np


def dequantize(q, scale, zero_point, axis=None):
    q = np.asarray(q, dtype=np.float64)
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.float64)
    if axis is not None:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale = scale.reshape(shape) if scale.ndim else scale
        zero_point = zero_point.reshape(shape) if zero_point.ndim else zero_point
    return ((q + zero_point) * scale).astype(np.float32)
