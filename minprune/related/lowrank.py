"""Low-rank factorisation (the seed §14): replace a weight matrix W (out × in) by a product of two thin ones.

The truncated SVD W ≈ U_r Σ_r V_rᵀ is the best rank-r approximation in Frobenius norm (Eckart & Young 1936):
‖W − W_r‖_F² = Σ_{i>r} σ_i². A Linear(in, out) becomes Linear(in, r, bias=False) → Linear(r, out) with
r·(in + out) instead of in·out weights — a saving whenever r < in·out / (in + out). For a Conv2d, the filters
are flattened to (out, in·kh·kw): a k×k conv to r channels, then a 1×1 conv to out channels (Jaderberg et al.
2014 / Zhang et al. 2016 style).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import nn
from ..nn.module import Parameter


def svd_factors(weight: np.ndarray, rank: int):
    """Split a 2-D ``weight`` (out, in) into A (r, in) and B (out, r) with B @ A the best rank-r approximation:
    A = √Σ_r V_rᵀ, B = U_r √Σ_r (the singular values shared evenly). Returns (A, B, singular values)."""
    # BEGIN SOLUTION
    u, s, vt = np.linalg.svd(np.asarray(weight, dtype=np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    return root[:, None] * vt[:rank], u[:, :rank] * root[None, :], s
    # END SOLUTION


def choose_rank(singular_values: np.ndarray, rank=None, energy=None) -> int:
    """``rank`` itself, or the smallest r keeping a fraction ``energy`` of Σσ² (the squared Frobenius norm)."""
    if (rank is None) == (energy is None):
        raise ValueError("give exactly one of rank= or energy=")
    if rank is not None:
        if not 1 <= rank <= len(singular_values):
            raise ValueError(f"rank must be in [1, {len(singular_values)}], got {rank}")
        return int(rank)
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    kept = np.cumsum(singular_values ** 2) / np.sum(singular_values ** 2)
    return int(np.searchsorted(kept, energy - 1e-12) + 1)


def _weight(layer):
    mask = layer._buffers.get("weight_mask")
    param = layer._parameters["weight_orig" if mask is not None else "weight"]
    return param.data if mask is None else param.data * mask


def factorize_linear(linear: nn.Linear, rank=None, energy=None) -> nn.Sequential:
    """``Sequential(Linear(in, r, bias=False), Linear(r, out))`` approximating ``linear`` with the truncated SVD."""
    weight = _weight(linear)
    r = choose_rank(np.linalg.svd(weight.astype(np.float64), compute_uv=False), rank, energy)
    a, b, _ = svd_factors(weight, r)
    dtype = weight.dtype
    first, second = nn.Linear(linear.in_features, r, bias=False), nn.Linear(r, linear.out_features, bias=linear.bias is not None)
    first.weight = Parameter(a.astype(dtype))
    second.weight = Parameter(b.astype(dtype))
    if linear.bias is not None:
        second.bias = Parameter(np.array(linear.bias.data, copy=True))
    return nn.Sequential(first, second)


def factorize_conv(conv: nn.Conv2d, rank=None, energy=None) -> nn.Sequential:
    """A k×k Conv2d(in, r) with the original stride/padding, then a 1×1 Conv2d(r, out) with the bias."""
    if conv.groups != 1:
        raise ValueError("factorize_conv: grouped convolutions are not supported")
    weight = _weight(conv)
    flat = weight.reshape(weight.shape[0], -1)
    r = choose_rank(np.linalg.svd(flat.astype(np.float64), compute_uv=False), rank, energy)
    a, b, _ = svd_factors(flat, r)
    first = nn.Conv2d(conv.in_channels, r, conv.kernel_size, conv.stride, conv.padding, bias=False)
    second = nn.Conv2d(r, conv.out_channels, 1, bias=conv.bias is not None)
    first.weight = Parameter(a.reshape((r,) + weight.shape[1:]).astype(weight.dtype))
    second.weight = Parameter(b.reshape(conv.out_channels, r, 1, 1).astype(weight.dtype))
    if conv.bias is not None:
        second.bias = Parameter(np.array(conv.bias.data, copy=True))
    return nn.Sequential(first, second)


def factorize(model, rank=None, energy=None, layers=None):
    """A copy of ``model`` with Linear/Conv2d layers replaced by their factorisations; returns
    ``(new_model, report)``. ``layers``: dotted names to factorise (default: every one that the chosen rank
    makes smaller). The report lists each layer's rank and parameters before/after."""
    new = copy.deepcopy(model)
    candidates = [(n, m) for n, m in new.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    chosen = {n for n, _ in candidates} if layers is None else set(layers)
    unknown = chosen - {n for n, _ in candidates}
    if unknown:
        raise ValueError(f"factorize: unknown layer(s) {sorted(unknown)}; layers: {[n for n, _ in candidates]}")
    report = {}
    for name, layer in candidates:
        if name not in chosen:
            continue
        full_rank = min(layer.weight.shape[0], int(np.prod(layer.weight.shape[1:])))
        if layers is None and rank is not None and rank >= full_rank:
            continue                       # a rank this large cannot make this layer smaller
        replacement = (factorize_linear if isinstance(layer, nn.Linear) else factorize_conv)(layer, rank, energy)
        before = sum(p.size for p in layer.parameters())
        after = sum(p.size for p in replacement.parameters())
        if layers is None and after >= before:
            continue
        parent_name, _, child = name.rpartition(".")
        new.get_submodule(parent_name)._modules[child] = replacement
        report[name] = {"rank": replacement[0].weight.shape[0], "parameters_before": before, "parameters_after": after}
    return new, report
