"""Quantization (the seed §14): store and compute with fewer bits — 32-bit floats → 8 (or 4, or 2) bit integers.

Uniform affine quantization maps a real x to an integer q and back:

    q = clamp(round(x / s) + z, q_min, q_max),        x̂ = (q − z) · s

with scale s > 0 and zero point z (the integer that represents 0.0 exactly, so zero weights stay exactly zero
— essential after pruning). Rounding is half-to-even and x / s is computed as x · (1/s), as PyTorch does.
Symmetric quantization uses z = 0 and a range symmetric around 0 (weights); asymmetric fits [min, max]
(post-ReLU activations). *Per-channel* (``axis`` given) keeps a scale per output channel.

k-means weight sharing (Han, Mao & Dally 2016) instead clusters the weights into 2^bits shared values and
stores only the cluster index of each weight plus a small codebook.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def qrange(bits: int, symmetric: bool) -> tuple:
    """Integer range of ``bits``-bit quantization: signed [−2^(b−1), 2^(b−1) − 1] when symmetric, else
    unsigned [0, 2^b − 1]."""
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an int in [2, 16], got {bits!r}")
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2 ** bits - 1)


def _per_axis(value, x: np.ndarray, axis):
    value = np.asarray(value, dtype=np.float64)
    if axis is None or value.ndim == 0:
        return value
    shape = [1] * x.ndim
    shape[axis] = -1
    return value.reshape(shape)


def quantize(x, scale, zero_point, qmin: int, qmax: int, axis=None) -> np.ndarray:
    """q = clamp(round_half_even(x · (1/scale)) + zero_point, qmin, qmax) as int32.

    ``scale``/``zero_point`` are scalars, or 1-D arrays along ``axis`` (per-channel). Shapes: x (…) → (…).
    """
    # BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    inverse = 1.0 / _per_axis(scale, x, axis)
    q = np.rint(x * inverse) + _per_axis(zero_point, x, axis)
    return np.clip(q, qmin, qmax).astype(np.int32)
    # END SOLUTION


def dequantize(q, scale, zero_point, axis=None) -> np.ndarray:
    """x̂ = (q − zero_point) · scale, float32. Shapes: q (…) → (…)."""
    # BEGIN SOLUTION
    q = np.asarray(q, dtype=np.float64)
    return ((q - _per_axis(zero_point, q, axis)) * _per_axis(scale, q, axis)).astype(np.float32)
    # END SOLUTION


def fake_quantize(x, scale, zero_point, qmin: int, qmax: int, axis=None):
    """Quantize then dequantize, exactly as ``torch.fake_quantize_per_tensor_affine`` /
    ``torch.fake_quantize_per_channel_affine`` compute it:

        q = clamp(nearbyint(x · (1/s)) + z, q_min, q_max),        out = (q − z) · s

    in the input's precision (float32 for float32 inputs, like PyTorch's kernel, whose scale is a float32;
    float64 for float64 inputs), so the outputs agree bit for bit — :func:`quantize` works in float64 and can
    differ from this in the last bit of a product.

    On a Tensor it is an autograd op with the straight-through estimator (Bengio et al. 2013; Jacob et al.
    2018): the gradient passes unchanged where nearbyint(x/s) + z lies inside [qmin, qmax] and is 0 where it
    was clamped — what quantization-aware training needs. On an array it returns an array.
    """
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    dtype = data.dtype if data.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    data = data.astype(dtype, copy=False)
    scale = _per_axis(scale, data, axis).astype(dtype)
    zero = _per_axis(zero_point, data, axis).astype(dtype)
    unclamped = np.rint(data * (dtype.type(1) / scale)) + zero
    out = (np.clip(unclamped, qmin, qmax) - zero) * scale
    if not isinstance(x, Tensor):
        return out
    inside = (unclamped >= qmin) & (unclamped <= qmax)
    return x._result(out, (x,), lambda g: (g * inside,), "fake_quantize")


def calibrate(x, bits: int = 8, symmetric: bool = True, method: str = "minmax", axis=None,
              percentile: float = 99.99) -> tuple:
    """Choose (scale, zero_point) for ``x`` — the post-training calibration step.

    - "minmax": the full range. Symmetric: s = max|x| / ((q_max − q_min)/2), z = 0. Asymmetric: the range
      [min(x, 0), max(x, 0)] (so 0 is representable), s = (hi − lo)/(q_max − q_min), z = q_min − round(lo/s).
    - "percentile": clip the range at the given percentile of |x| (or of x's tails) — robust to outliers.
    - "mse": try clipping ratios 0.3 … 1 of the min-max range and keep the one with least
      ‖x − fake_quantize(x)‖² (the error a clipped outlier costs against finer steps for the rest).
    With ``axis``, one (scale, zero_point) per slice along it (per-channel). Returns float64 / int arrays.
    """
    if method not in ("minmax", "percentile", "mse"):
        raise ValueError(f"method must be 'minmax', 'percentile' or 'mse', got {method!r}")
    x = np.asarray(x, dtype=np.float64)
    qmin, qmax = qrange(bits, symmetric)
    flat = x.reshape(-1, 1) if axis is None else np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1).T
    if method == "percentile":
        lo, hi = np.percentile(flat, 100 - percentile, axis=0), np.percentile(flat, percentile, axis=0)
    else:
        lo, hi = flat.min(axis=0), flat.max(axis=0)

    def params(lo, hi):
        lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        if symmetric:
            scale = np.maximum(np.maximum(-lo, hi) / ((qmax - qmin) / 2), 1e-12)
            return scale, np.zeros_like(scale, dtype=np.int64)
        scale = np.maximum((hi - lo) / (qmax - qmin), 1e-12)
        return scale, np.clip(qmin - np.rint(lo / scale), qmin, qmax).astype(np.int64)

    scale, zero = params(lo, hi)
    if method == "mse":
        best = np.full(flat.shape[1], np.inf)
        for ratio in np.linspace(0.3, 1.0, 15):
            s, z = params(lo * ratio, hi * ratio)
            error = ((flat - fake_quantize(flat, s, z, qmin, qmax, axis=1 if axis is not None else None)) ** 2).sum(axis=0)
            better = error < best
            best, scale, zero = np.where(better, error, best), np.where(better, s, scale), np.where(better, z, zero)
    if axis is None:
        return float(scale[0]), int(zero[0])
    return scale, zero


def quantize_tensor(x, bits: int = 8, symmetric: bool = True, axis=None, method: str = "minmax"):
    """Calibrate and quantize in one call: returns (q int32, scale, zero_point)."""
    scale, zero = calibrate(x, bits, symmetric, method, axis)
    qmin, qmax = qrange(bits, symmetric)
    return quantize(x, scale, zero, qmin, qmax, axis), scale, zero


# ---------------------------------------------------------------------- k-means weight sharing
def kmeans_quantize(weight, bits: int, iterations: int = 20):
    """k-means weight sharing of Deep Compression (Han et al. 2016): cluster the *non-zero* weights into
    k = 2^bits shared values; pruned weights stay exactly 0.

    Centroids start linearly spaced over [min, max] of the non-zero weights (the paper found linear
    initialisation best: it keeps the rare large weights). Lloyd iterations, vectorized: in 1-D the nearest
    centroid is found by ``np.searchsorted`` on the midpoints of the sorted centroids (O(n log k)), and each
    centroid becomes the mean of its weights (``np.bincount``). Returns (shared weights, codebook (k,),
    indices int — −1 where the weight is pruned). Deterministic.
    """
    weight = np.asarray(weight)
    k = 2 ** bits
    flat = weight.ravel().astype(np.float64)
    nonzero = flat != 0
    values = flat[nonzero]
    indices = np.full(flat.shape, -1, dtype=np.int64)
    if values.size == 0:
        return np.zeros_like(weight), np.zeros(k), indices.reshape(weight.shape)
    codebook = np.linspace(values.min(), values.max(), k)
    for _ in range(iterations):
        assignment = np.searchsorted((codebook[1:] + codebook[:-1]) / 2, values)
        counts = np.bincount(assignment, minlength=k)
        sums = np.bincount(assignment, weights=values, minlength=k)
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), codebook)
        order = np.argsort(updated, kind="stable")
        if np.allclose(updated[order], codebook):
            codebook = updated[order]
            break
        codebook = updated[order]
    assignment = np.searchsorted((codebook[1:] + codebook[:-1]) / 2, values)
    indices[nonzero] = assignment
    shared = np.zeros_like(flat)
    shared[nonzero] = codebook[assignment]
    return shared.reshape(weight.shape).astype(weight.dtype), codebook, indices.reshape(weight.shape)


def codebook_gradient(indices, grad, k: int) -> np.ndarray:
    """The gradient of each shared value: the sum of the gradients of all weights in its cluster (Han et al.
    2016, §3.2 — fine-tuning the codebook). Pruned weights (index −1) contribute nothing. Shapes → (k,)."""
    indices = np.ravel(indices)
    keep = indices >= 0
    return np.bincount(indices[keep], weights=np.ravel(grad)[keep], minlength=k)
