"""Mistake: ignoring ``axis`` and letting NumPy broadcast the per-channel scale, which lines it up with the *last*
axis — per input column instead of per output row (for a square weight nothing even fails, the numbers are just
wrong)."""
import numpy as np


def quantize(x, scale, zero_point, qmin, qmax, axis=None):
    x = np.asarray(x, dtype=np.float64)
    scale, zero_point = np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.float64)
    return np.clip(np.rint(x / scale) + zero_point, qmin, qmax).astype(np.int32)
