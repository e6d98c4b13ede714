"""Neural-network functions (``minprune.functional``, imported as ``F``), shaped like ``torch.nn.functional``.

The heavy ones (linear, conv2d, pooling, batch norm, the losses) are *fused* ops: one node in the autograd
graph with a hand-written backward, because that is both faster and how real frameworks do it. Each backward
is checked against finite differences in ``tests/test_functional.py``.

Convolution uses **im2col**: ``sliding_window_view`` exposes every k×k patch of the input as a view (no copy),
one reshape copies the patches into a matrix, and a single GEMM multiplies it by the flattened filters.
The backward runs the same GEMMs transposed, then *col2im* adds each patch gradient back — a loop over the
k×k kernel offsets (25 for a 5×5 kernel), never over pixels, channels or samples.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .tensor import Tensor


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _pair(v) -> tuple:
    return (v, v) if isinstance(v, int) else tuple(v)


# ---------------------------------------------------------------------- activations
def relu(x: Tensor) -> Tensor:
    return _t(x).relu()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    x = _t(x)
    slope = np.where(x.data > 0, 1.0, negative_slope).astype(x.dtype)
    return x._result(x.data * slope, (x,), lambda g: (g * slope,), "leaky_relu")


def sigmoid(x: Tensor) -> Tensor:
    return _t(x).sigmoid()


def tanh(x: Tensor) -> Tensor:
    return _t(x).tanh()


def erf(v: np.ndarray) -> np.ndarray:
    """The error function, vectorized, by Abramowitz & Stegun 7.1.26 (max abs error 1.5e-7, below float32's
    resolution): erf(x) ≈ 1 − (a1·t + … + a5·t⁵)·exp(−x²), t = 1/(1 + p·|x|), odd in x."""
    a1, a2, a3, a4, a5, p = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911
    t = 1.0 / (1.0 + p * np.abs(v))
    poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
    return np.sign(v) * (1.0 - poly * np.exp(-v * v))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x · Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel 2016).
    ``approximate="tanh"`` uses 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), as PyTorch."""
    x = _t(x)
    v = x.data
    if approximate == "tanh":
        c = np.sqrt(2 / np.pi)
        th = np.tanh(c * (v + 0.044715 * v ** 3))
        out = 0.5 * v * (1 + th)
        dout = 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * c * (1 + 3 * 0.044715 * v * v)
    elif approximate == "none":
        cdf = 0.5 * (1 + erf(v / np.sqrt(2)))
        out = v * cdf
        dout = cdf + v * np.exp(-0.5 * v * v) / np.sqrt(2 * np.pi)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    dout = dout.astype(v.dtype, copy=False)
    return x._result(out.astype(v.dtype, copy=False), (x,), lambda g: (g * dout,), "gelu")


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_i = exp(x_i − max x) / Σ_j exp(x_j − max x). Backward: y ⊙ (g − Σ g ⊙ y)."""
    x = _t(x)
    e = np.exp(x.data - x.data.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)
    return x._result(out, (x,), lambda g: (out * (g - (g * out).sum(axis=axis, keepdims=True)),), "softmax")


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log_softmax(x) = x − max x − log Σ exp(x − max x) (stable). Backward: g − softmax(x) · Σ g."""
    x = _t(x)
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return x._result(out, (x,), lambda g: (g - np.exp(out) * g.sum(axis=axis, keepdims=True),), "log_softmax")


# ---------------------------------------------------------------------- losses
def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_targets(logits: Tensor, target: np.ndarray, fn: str) -> np.ndarray:
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"{fn}: expected input (N, C) and integer target (N,), got {logits.shape} and {target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class indices, got dtype {target.dtype}")
    if target.size and (target.min() < 0 or target.max() >= logits.shape[1]):
        raise ValueError(f"{fn}: target values must be in [0, {logits.shape[1] - 1}], "
                         f"got range [{target.min()}, {target.max()}]")
    return target


def nll_loss(log_probs: Tensor, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: −log_probs[n, target[n]]; input (N, C) log-probabilities, target (N,) ints."""
    log_probs = _t(log_probs)
    target = _check_targets(log_probs, target, "nll_loss")
    return _reduce(-log_probs[np.arange(len(target)), target], reduction)


def cross_entropy(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """Cross-entropy of logits (N, C) against integer targets (N,): −log softmax(logits)[n, target[n]].

    Fused: the gradient with respect to the logits is ``softmax(logits) − onehot(target)`` (divided by N for
    the mean), computed in one step instead of through log_softmax and indexing.
    """
    logits = _t(logits)
    target = _check_targets(logits, target, "cross_entropy")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    n = len(target)
    shifted = logits.data - logits.data.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses = -log_probs[np.arange(n), target]

    def backward(g):
        grad = np.exp(log_probs)
        grad[np.arange(n), target] -= 1
        scale = g / n if reduction == "mean" else g
        return (grad * (scale[:, None] if reduction == "none" else scale),)

    value = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    return logits._result(np.asarray(value, dtype=logits.dtype), (logits,), backward, "cross_entropy")


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error (input − target)²."""
    input = _t(input)
    diff = input - (target if isinstance(target, Tensor) else Tensor(target, dtype=input.dtype))
    return _reduce(diff * diff, reduction)


# ---------------------------------------------------------------------- linear and convolution
def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b, with x (..., in), W (out, in), b (out,) → y (..., out). One GEMM forward, two backward."""
    x = _t(x)
    w = weight
    x2 = x.data.reshape(-1, x.shape[-1])
    out = x2 @ w.data.T
    if bias is not None:
        out += bias.data

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1])
        grad_x = (g2 @ w.data).reshape(x.shape) if x.requires_grad else None
        return (grad_x, g2.T @ x2) + ((g2.sum(axis=0),) if bias is not None else ())

    parents = (x, w) if bias is None else (x, w, bias)
    return x._result(out.reshape(x.shape[:-1] + (w.shape[0],)), parents, backward, "linear")


def _pad(x: np.ndarray, padding: tuple, value: float = 0.0) -> np.ndarray:
    ph, pw = padding
    return x if ph == pw == 0 else np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _offsets(kernel: tuple, stride: tuple, out_size: tuple):
    """For every kernel offset (a, b), the slices of the (padded) input that offset touches across all output
    positions: ``x[..., a:a+s·Ho:s, b:b+s·Wo:s]``. Looping over the k×k offsets (not over pixels) is how
    pooling and col2im stay vectorized."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_size
    for a in range(kh):
        for b in range(kw):
            yield a, b, (slice(a, a + sh * ho, sh), slice(b, b + sw * wo, sw))


def _out_size(size: tuple, kernel: tuple, stride: tuple) -> tuple:
    return tuple((n - k) // s + 1 for n, k, s in zip(size, kernel, stride))


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch).

    Shapes: x (N, C, H, W), weight (O, C/G, kh, kw), bias (O,) → (N, O, Ho, Wo), Ho = (H + 2·pad − kh)//stride + 1.
    With G = ``groups``, each group convolves its C/G input channels with its O/G filters; ``G == C == O`` is a
    depthwise convolution.

    im2col, channel-major with the batch innermost: the input is laid out (C, H, W, N), so every patch entry is
    a contiguous run of N values; ``sliding_window_view`` exposes the patches as a view and one reshape copies
    them into ``cols`` (G, C/G·kh·kw, Ho·Wo·N), rows ordered like the flattened filters. The output is returned
    as an (N, O, Ho, Wo) *view* of that layout, so the next layers (ReLU, pooling: they keep memory order) and
    the next convolution's transpose cost (almost) nothing. Forward: ``W (G, O/G, C/G·kh·kw) @ cols`` — one GEMM per group, batched in one call.
    Backward: dW = g @ colsᵀ, dcols = Wᵀ @ g, and col2im adds dcols back, one slice per kernel offset.
    Cost: N·Ho·Wo·O·(C/G)·kh·kw multiply-accumulates each way.
    """
    x = _t(x)
    stride, padding = _pair(stride), _pair(padding)
    n, c, h, w_ = x.shape
    o, cg, kh, kw = weight.shape
    if c != cg * groups or o % groups:
        raise ValueError(f"conv2d: input has {c} channels, weight {weight.shape} with groups={groups} "
                         f"expects {cg * groups} channels and out_channels divisible by groups")
    og = o // groups
    xp = np.ascontiguousarray(_pad(x.data, padding).transpose(1, 2, 3, 0))            # (C, Hp, Wp, N)
    ho, wo = _out_size(xp.shape[1:3], (kh, kw), stride)
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride[0], ::stride[1]]  # (C, Ho, Wo, N, kh, kw)
    cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(groups, cg * kh * kw, ho * wo * n)   # the one big copy
    wmat = weight.data.reshape(groups, og, cg * kh * kw)
    out = np.matmul(wmat, cols).reshape(o, ho, wo, n).transpose(3, 0, 1, 2)            # (N, O, Ho, Wo) view
    if bias is not None:
        out = out + bias.data.reshape(1, o, 1, 1)

    def backward(g):
        gmat = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(groups, og, ho * wo * n)
        grad_w = np.matmul(gmat, cols.transpose(0, 2, 1)).reshape(weight.shape)
        grad_b = (g.sum(axis=(0, 2, 3)),) if bias is not None else ()
        if not x.requires_grad:
            return (None, grad_w) + grad_b
        dcols = np.matmul(wmat.transpose(0, 2, 1), gmat).reshape(c, kh, kw, ho, wo, n)
        grad_xp = np.zeros(xp.shape, dtype=g.dtype)                                    # (C, Hp, Wp, N)
        for a, b, (rows, columns) in _offsets((kh, kw), stride, (ho, wo)):
            grad_xp[:, rows, columns] += dcols[:, a, b]
        (ph, pw), hp, wp = padding, xp.shape[1], xp.shape[2]
        return (grad_xp[:, ph:hp - ph, pw:wp - pw].transpose(3, 0, 1, 2), grad_w) + grad_b

    parents = (x, weight) if bias is None else (x, weight, bias)
    return x._result(out, parents, backward, "conv2d")


# ---------------------------------------------------------------------- pooling
def _pool_args(kernel_size, stride, padding):
    kernel = _pair(kernel_size)
    return kernel, _pair(stride if stride is not None else kernel_size), _pair(padding)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Max over each kernel window: (N, C, H, W) → (N, C, Ho, Wo).

    Computed as the running maximum of the k×k strided slices, one per kernel offset. The gradient goes to the
    first position (in offset order) that holds each window's maximum, as PyTorch's argmax does.
    """
    x = _t(x)
    kernel, stride, padding = _pool_args(kernel_size, stride, padding)
    xp = _pad(x.data, padding, value=-np.inf)
    ho, wo = _out_size(xp.shape[2:], kernel, stride)
    out = None
    for _, _, (rows, columns) in _offsets(kernel, stride, (ho, wo)):
        window = xp[:, :, rows, columns]
        out = window.copy(order="K") if out is None else np.maximum(out, window, out=out)

    def backward(g):
        grad = np.zeros_like(xp, dtype=g.dtype)  # zeros_like/ones_like keep the input's memory order
        unclaimed = np.ones_like(out, dtype=bool)
        for _, _, (rows, columns) in _offsets(kernel, stride, (ho, wo)):
            winner = unclaimed & (xp[:, :, rows, columns] == out)
            grad[:, :, rows, columns] += g * winner
            unclaimed &= ~winner
        return (grad[:, :, padding[0]:padding[0] + x.shape[2], padding[1]:padding[1] + x.shape[3]],)

    return x._result(out, (x,), backward, "max_pool2d")


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Mean over each kernel window (zero padding counted, PyTorch's default ``count_include_pad=True``)."""
    x = _t(x)
    kernel, stride, padding = _pool_args(kernel_size, stride, padding)
    xp = _pad(x.data, padding)
    ho, wo = _out_size(xp.shape[2:], kernel, stride)
    area = kernel[0] * kernel[1]
    out = np.zeros(xp.shape[:2] + (ho, wo), dtype=x.dtype)
    for _, _, (rows, columns) in _offsets(kernel, stride, (ho, wo)):
        out += xp[:, :, rows, columns]
    out /= area

    def backward(g):
        grad = np.zeros(xp.shape, dtype=g.dtype)
        for _, _, (rows, columns) in _offsets(kernel, stride, (ho, wo)):
            grad[:, :, rows, columns] += g / area
        return (grad[:, :, padding[0]:padding[0] + x.shape[2], padding[1]:padding[1] + x.shape[3]],)

    return x._result(out, (x,), backward, "avg_pool2d")


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """Average to a fixed output size. Supported when H and W are multiples of the output size (then it is an
    ``avg_pool2d`` with kernel = stride = H // out), which covers global pooling (output_size=1)."""
    x = _t(x)
    oh, ow = _pair(output_size)
    h, w = x.shape[2], x.shape[3]
    if h % oh or w % ow:
        raise ValueError(f"adaptive_avg_pool2d: input size {(h, w)} must be a multiple of output_size {(oh, ow)}")
    if (oh, ow) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True)
    return avg_pool2d(x, (h // oh, w // ow))


# ---------------------------------------------------------------------- normalisation and dropout
def _normalized_grad(g_hat, x_hat, inv_std, axes):
    """Backward of x̂ = (x − mean) / √(var + ε) with mean and var taken over ``axes`` (batch and layer norm):
    dx = (1/√(var + ε)) · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)), ĝ the gradient reaching x̂."""
    return inv_std * (g_hat - g_hat.mean(axis=axes, keepdims=True)
                      - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))


def batch_norm(x: Tensor, running_mean: np.ndarray | None, running_var: np.ndarray | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every axis but the channel axis 1: x (N, C) or (N, C, H, W).

    y = γ · (x − μ) / √(σ² + ε) + β. In training μ, σ² are the batch statistics (biased variance), and the
    running statistics are updated in place as PyTorch does: r ← (1 − momentum)·r + momentum·stat, with the
    *unbiased* variance (m/(m − 1)·σ²). In eval mode the running statistics are used.
    Backward (training): dx = γ/σ̂ · (g − mean(g) − x̂ · mean(g · x̂)), the means over the reduced axes.
    """
    x = _t(x)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean = x.data.mean(axis=axes)
        var = x.data.var(axis=axes)
        count = x.data.size // x.shape[1]
        if count < 2:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input {x.shape}")
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * count / (count - 1)
    else:
        mean, var = running_mean, running_var
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    x_hat = (x.data - mean.reshape(shape)) * inv_std.reshape(shape)
    gamma = weight.data.reshape(shape) if weight is not None else 1.0
    out = x_hat * gamma + (bias.data.reshape(shape) if bias is not None else 0.0)

    def backward(g):
        g_hat = g * gamma
        if training:
            grad_x = _normalized_grad(g_hat, x_hat, inv_std.reshape(shape), axes)
        else:
            grad_x = g_hat * inv_std.reshape(shape)
        grads = (grad_x,)
        if weight is not None:
            grads += ((g * x_hat).sum(axis=axes),)
        if bias is not None:
            grads += (g.sum(axis=axes),)
        return grads

    parents = (x,) + tuple(p for p in (weight, bias) if p is not None)
    return x._result(out.astype(x.dtype, copy=False), parents, backward, "batch_norm")


def layer_norm(x: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` axes (Ba et al. 2016), per sample:
    y = x̂ · γ + β, x̂ = (x − mean) / √(var + ε). Fused; backward as batch norm's over those axes:
    dx = (1/√(var + ε)) · (ĝ − mean(ĝ) − x̂ · mean(ĝ · x̂)), ĝ = g · γ."""
    x = _t(x)
    count = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    axes = tuple(range(x.ndim - count, x.ndim))
    mean = x.data.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.data.var(axis=axes, keepdims=True) + eps)
    x_hat = ((x.data - mean) * inv_std).astype(x.dtype, copy=False)
    out = x_hat * (weight.data if weight is not None else 1.0) + (bias.data if bias is not None else 0.0)
    leading = tuple(range(x.ndim - count))

    def backward(g):
        g_hat = g * weight.data if weight is not None else g
        grad_x = _normalized_grad(g_hat, x_hat, inv_std, axes)
        grads = (grad_x.astype(x.dtype, copy=False),)
        if weight is not None:
            grads += ((g * x_hat).sum(axis=leading),)
        if bias is not None:
            grads += (g.sum(axis=leading),)
        return grads

    parents = (x,) + tuple(p for p in (weight, bias) if p is not None)
    return x._result(out.astype(x.dtype, copy=False), parents, backward, "layer_norm")


def dropout(x: Tensor, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1 − p) (inverted dropout); identity at eval."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
    x = _t(x)
    if not training or p == 0:
        return x
    if rng is None:
        raise ValueError("dropout in training mode needs rng= (a np.random.Generator) for reproducibility")
    keep = (rng.random(x.shape) >= p).astype(x.dtype) / (1 - p)
    return x._result(x.data * keep, (x,), lambda g: (g * keep,), "dropout")


def flatten(x: Tensor, start_dim: int = 1) -> Tensor:
    x = _t(x)
    return x.reshape(x.shape[:start_dim] + (-1,))


