"""Mistake: per-channel scales reshaped with ``scale[:, None]`` — right for a 2-D weight along axis 0, but wrong
for axis=1 and for a 4-D conv weight (out, in, kh, kw), where the scale must broadcast as (out, 1, 1, 1)."""
import numpy as np


def quantize(x, scale, zero_point, qmin, qmax, axis=None):
    x = np.asarray(x, dtype=np.float64)
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.float64)
    if axis is not None and scale.ndim:
        scale = scale[:, None]
        zero_point = zero_point[:, None] if zero_point.ndim else zero_point
    return np.clip(np.rint(x / scale) + zero_point, qmin, qmax).astype(np.int32)
