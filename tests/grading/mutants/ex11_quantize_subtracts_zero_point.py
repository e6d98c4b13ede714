"""Mistake: subtracting the zero point when quantizing (mixing it up with dequantization, x̂ = (q − z)·s), so 0.0
is stored as −z instead of z."""
import numpy as np


def quantize(x, scale, zero_point, qmin, qmax, axis=None):
    x = np.asarray(x, dtype=np.float64)
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.float64)
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape) if scale.ndim else scale
        zero_point = zero_point.reshape(shape) if zero_point.ndim else zero_point
    return np.clip(np.rint(x / scale) - zero_point, qmin, qmax).astype(np.int32)
