"""Mistake: rounding half away from zero (C's round(), sign(v)·floor(|v| + 0.5)), so 0.5 → 1 and −2.5 → −3,
where PyTorch's quantization (nearbyint) rounds ties to even: 0.5 → 0, −2.5 → −2."""
import numpy as np


def quantize(x, scale, zero_point, qmin, qmax, axis=None):
    x = np.asarray(x, dtype=np.float64)
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.float64)
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = scale.reshape(shape) if scale.ndim else scale
        zero_point = zero_point.reshape(shape) if zero_point.ndim else zero_point
    v = x / scale
    return np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + zero_point, qmin, qmax).astype(np.int32)
