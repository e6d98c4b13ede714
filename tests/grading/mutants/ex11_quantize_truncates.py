"""Mistake: casting x / scale to int without rounding (``astype(int)`` truncates toward zero), so 0.9 of a step
becomes 0 and the error can reach a whole step instead of half of one."""
import numpy as np


def quantize(x, scale, zero_point, qmin, qmax, axis=None):
    x = np.asarray(x, dtype=np.float64)
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.float64)
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape) if scale.ndim else scale
        zero_point = zero_point.reshape(shape) if zero_point.ndim else zero_point
    return np.clip((x / scale).astype(np.int64) + zero_point, qmin, qmax).astype(np.int32)
