"""Mistake: dequantizing as q · scale, forgetting to subtract the zero point — every value of an asymmetric
(unsigned) grid is shifted by z·s, and 0.0 no longer comes back as 0."""
import numpy as np


def dequantize(q, scale, zero_point, axis=None):
    q = np.asarray(q, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    if axis is not None and scale.ndim:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
    return (q * scale).astype(np.float32)
