"""Data-free criteria: the size of the weights themselves (the seed §6 "magnitude" and "L1/L2 norm" rows).

The oldest and still the strongest simple baseline (Han et al. 2015): a weight close to zero contributes
little to any output. Structured versions score a whole filter by a norm of its weights (Li et al. 2017),
LAMP rescales magnitudes so one global threshold works across layers, FPGM removes the filters most like the
others, and network slimming reads channel importance off BatchNorm's scale γ.
"""
from __future__ import annotations

import numpy as np

from ... import nn
from ..structured import channel_norms
from .common import broadcast_channels, weight_layers, weight_value


def magnitude(model) -> dict:
    """|w| for every weight (Han et al. 2015, "Learning both Weights and Connections"). Cost O(#weights)."""
    return {(m, "weight"): np.abs(weight_value(m)) for m in weight_layers(model)}


def random(model, rng: np.random.Generator | None = None) -> dict:
    """Uniform random scores: the baseline every criterion must beat (Blalock et al. 2020 insist on it)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    return {(m, "weight"): rng.random(weight_value(m).shape) for m in weight_layers(model)}


REDUCTIONS = ("l1", "l2", "linf", "mean")


def group_scores(weight: np.ndarray, dim: int = 0, reduction: str = "l1") -> np.ndarray:
    """Score each channel along ``dim`` by a reduction of its |weights| over all other dims, broadcast back.

    "l1": Σ|w| (Li et al. 2017, "Pruning Filters for Efficient ConvNets"), "l2": √Σw², "linf": max|w|,
    "mean": Σ|w| / (entries per channel). Shapes: weight (…) → same shape. Cost O(weight.size).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    n = {"l1": 1, "l2": 2, "linf": np.inf, "mean": 1}[reduction]
    scores = channel_norms(weight, n, dim)
    if reduction == "mean":
        scores = scores / (weight.size // weight.shape[dim])
    return broadcast_channels(scores, weight.shape, dim)


def norm(model, dim: int = 0, reduction: str = "l1") -> dict:
    """:func:`group_scores` for every Linear/Conv2d weight of ``model``."""
    return {(m, "weight"): group_scores(weight_value(m), dim, reduction) for m in weight_layers(model)}


def lamp_scores(weight: np.ndarray) -> np.ndarray:
    """LAMP (Lee et al. 2021, "Layer-adaptive sparsity for the magnitude-based pruning").

    Sort a layer's weights so |w_1| ≤ |w_2| ≤ … ≤ |w_n|; then score(u) = w_u² / Σ_{v ≥ u} w_v². The largest
    weight of every layer scores 1, so a single global threshold never empties a layer, and the scores are
    comparable across layers of different size and scale. Ties keep their index order. Cost O(n log n).
    """
    flat = np.ravel(weight).astype(np.float64) ** 2
    order = np.argsort(flat, kind="stable")
    sorted_sq = flat[order]
    tail_sums = np.cumsum(sorted_sq[::-1])[::-1]  # Σ_{v ≥ u} in sorted order
    scores = np.empty_like(flat)
    scores[order] = np.divide(sorted_sq, tail_sums, out=np.zeros_like(sorted_sq), where=tail_sums > 0)
    return scores.reshape(np.shape(weight))


def lamp(model) -> dict:
    """:func:`lamp_scores` for every Linear/Conv2d weight; use with ``global_unstructured``."""
    return {(m, "weight"): lamp_scores(weight_value(m)) for m in weight_layers(model)}


def fpgm_scores(weight: np.ndarray) -> np.ndarray:
    """FPGM (He et al. 2019, "Filter Pruning via Geometric Median").

    A filter close to the geometric median of its layer's filters is replaceable by the others. The paper
    approximates "distance to the median" by the sum of Euclidean distances to all other filters:
    score_i = Σ_j ‖F_i − F_j‖₂ — the smallest sums are pruned. Returns the score broadcast over the filter's
    weights (dim 0). Cost O(C² · d) for C filters of d weights (one (C, C) distance matrix).
    """
    flat = np.reshape(weight, (weight.shape[0], -1)).astype(np.float64)
    squared = (flat ** 2).sum(axis=1)
    distances_sq = np.maximum(squared[:, None] + squared[None, :] - 2 * flat @ flat.T, 0.0)
    np.fill_diagonal(distances_sq, 0.0)  # ‖F_i‖² + ‖F_i‖² − 2‖F_i‖² cancels only up to rounding; √ magnifies it
    return broadcast_channels(np.sqrt(distances_sq).sum(axis=1), weight.shape, 0)


def fpgm(model) -> dict:
    """:func:`fpgm_scores` for every Conv2d (and Linear) weight of ``model``."""
    return {(m, "weight"): fpgm_scores(weight_value(m)) for m in weight_layers(model)}


def batchnorm_producers(model) -> list:
    """Pairs ``(layer, bn)`` where a BatchNorm normalises the channels that ``layer`` produces.

    Matched by registration order: each BatchNorm pairs with the nearest earlier Linear/Conv2d whose number of
    outputs equals its number of features (true of Sequential stacks and ResNet/MobileNet blocks as written
    here; ``prune.DependencyGraph`` traces the real data flow).
    """
    pairs, last = [], None
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            last = module
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and last is not None:
            outputs = last.weight.shape[0] if "weight" in last._parameters else last.weight_orig.shape[0]
            if outputs == module.num_features and module.weight is not None:
                pairs.append((last, module))
    return pairs


def bn_scale(model) -> dict:
    """|γ| of the BatchNorm after each layer, per channel, broadcast over that layer's weight (network
    slimming, Liu et al. 2017, "Learning Efficient Convolutional Networks through Network Slimming")."""
    return {(layer, "weight"): broadcast_channels(np.abs(bn.weight.data), weight_value(layer).shape, 0)
            for layer, bn in batchnorm_producers(model)}


def slimming_loss(model, strength: float = 1e-4, base_loss=None):
    """A loss function ``base_loss(logits, y) + strength · Σ|γ|`` over every BatchNorm scale: the L1 penalty of
    network slimming, which drives unimportant channels' γ to zero during training. Pass it to ``train.fit``
    as ``loss_fn``. (With ``reduction`` other than "mean", as ``train.evaluate`` uses, only the data loss.)"""
    from ... import functional as F

    base_loss = F.cross_entropy if base_loss is None else base_loss
    scales = [m.weight for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.weight is not None]

    def loss(logits, y, reduction="mean"):
        data_loss = base_loss(logits, y, reduction=reduction)
        if reduction != "mean":  # evaluation sums per-sample losses: report the data loss alone
            return data_loss
        return data_loss + strength * sum((g.abs().sum() for g in scales), start=0.0)

    return loss
