"""Mistake: rounding with floor(x/s + 0.5) ("round half up"), so exact ties such as 2.5 go to 3 instead of the
even neighbour 2 that np.rint and PyTorch's nearbyint give — a bias of half a step on every tie."""
import numpy as np


def quantize(x, scale, zero_point, qmin, qmax, axis=None):
    x = np.asarray(x, dtype=np.float64)
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.float64)
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape) if scale.ndim else scale
        zero_point = zero_point.reshape(shape) if zero_point.ndim else zero_point
    return np.clip(np.floor(x / scale + 0.5) + zero_point, qmin, qmax).astype(np.int32)
