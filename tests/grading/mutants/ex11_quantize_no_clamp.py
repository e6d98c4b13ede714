"""Mistake: forgetting the clamp to [qmin, qmax], so values outside the calibrated range produce integers that do
not fit the bit width (an int8 of 400 silently wraps around when stored)."""
import numpy as np


def quantize(x, scale, zero_point, qmin, qmax, axis=None):
    x = np.asarray(x, dtype=np.float64)
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.float64)
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape) if scale.ndim else scale
        zero_point = zero_point.reshape(shape) if zero_point.ndim else zero_point
    return (np.rint(x / scale) + zero_point).astype(np.int32)
