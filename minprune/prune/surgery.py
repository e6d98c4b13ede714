"""Structured pruning of whole networks with the dependency graph: a new, physically smaller model.

``structured_prune(model, example_input, amount)`` scores every pruning group of :class:`DependencyGraph`,
removes the least important channels of each group (``scope="local"``) or of all groups together
("global"), and returns ``(smaller_model, report)`` — the original is untouched. This is what Torch-Pruning's
``MetaPruner`` does for PyTorch (Fang et al. 2023).

Group importance: each member that holds weights scores the group's channels by a norm of its slices (or by
given importance scores); member scores are normalised (divided by their mean, so layers of different scale
are comparable) and reduced over members with ``reduction`` = mean | sum | max | first.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import metrics
from .base import BasePruningMethod, nparams_to_prune, remove, smallest_k, trainable_parameter, validate_amount
from .graph import DependencyGraph

REDUCTIONS = ("mean", "sum", "max", "first")
IMPORTANCES = ("l1", "l2")


def _member_values(member, scores_by_module):
    module = member.module
    if member.param == "weight" and scores_by_module.get(id(module)) is not None:
        return np.abs(np.asarray(scores_by_module[id(module)], dtype=np.float64))
    param = trainable_parameter(module, member.param)
    mask = module._buffers.get(member.param + "_mask")
    return np.abs(param.data if mask is None else param.data * mask).astype(np.float64)


def group_importance(group, importance: str = "l2", reduction: str = "mean", normalize: bool = True,
                     scores_by_module: dict | None = None) -> np.ndarray:
    """Score each of a group's channels (higher = keep). Shapes: → (group.size,).

    For each member holding a weight (Linear/Conv2d weights along their dim, BatchNorm γ), the channel's slice
    — ``member.indices_of(c)`` along ``member.dim`` — is reduced to its L1 or L2 norm (``importance``), or of
    ``scores_by_module[id(module)]`` (criteria scores with the weight's shape) when given. Cost O(Σ members' size).
    """
    if importance not in IMPORTANCES:
        raise ValueError(f"importance must be one of {IMPORTANCES} or scores, got {importance!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    scores_by_module = scores_by_module or {}
    channels = np.arange(group.size)
    per_member = []
    for member in group:
        if member.param != "weight":
            continue
        values = np.moveaxis(_member_values(member, scores_by_module), member.dim, 0)
        slices = values[member.indices_of(channels)].reshape(group.size, -1)
        norm = slices.sum(axis=1) if importance == "l1" else np.sqrt((slices ** 2).sum(axis=1))
        if normalize and norm.mean() > 0:
            norm = norm / norm.mean()
        per_member.append(norm)
    if not per_member:
        return np.zeros(group.size)
    stacked = np.stack(per_member)
    return {"mean": stacked.mean(axis=0), "sum": stacked.sum(axis=0), "max": stacked.max(axis=0),
            "first": stacked[0]}[reduction]


def _cap(size: int, max_layer_amount: float) -> int:
    """The most channels a group of ``size`` may lose: ⌊max_layer_amount · size⌋, and never all of them."""
    return min(int(np.floor(max_layer_amount * size)), size - 1)


def _round_removal(size: int, k: int, cap: int, round_to: int | None) -> int:
    """Adjust a removal of ``k`` channels so that the kept width is the multiple of ``round_to`` nearest to
    ``size − k``, within the allowed widths [size − cap, size]. A group from which nothing is removed, or
    whose allowed widths hold no multiple of ``round_to``, keeps its width (returns 0)."""
    if not round_to or k == 0:
        return k
    lowest = -(-(size - cap) // round_to) * round_to     # smallest allowed multiple (ceil)
    highest = size // round_to * round_to
    if lowest > highest:
        return 0
    keep = int(np.clip(round((size - k) / round_to) * round_to, lowest, highest))
    return size - keep


def _channels_to_remove(size: int, amount, max_layer_amount: float, round_to: int | None) -> int:
    cap = _cap(size, max_layer_amount)
    return _round_removal(size, min(nparams_to_prune(amount, size), cap), cap, round_to)


def structured_prune(model, example_input, amount, importance="l2", scope: str = "local", round_to: int | None = None,
                     ignored_layers=(), max_layer_amount: float = 0.9, reduction: str = "mean"):
    """Remove channels from every prunable group of ``model``; return ``(new_model, report)``.

    Args:
        example_input: an input batch used to trace the model (and to count FLOPs).
        amount: fraction (or count) of channels removed from each group (local) or from all prunable channels
            together (global, ranked by normalised group importance).
        importance: "l1" | "l2" weight norms, or a criteria dict ``{(module, "weight"): scores}`` of ``model``.
        round_to: a group that loses channels keeps a width that is a multiple of this (hardware-friendly):
            the multiple nearest to the requested width, within ``max_layer_amount``; a group from which
            nothing is removed, or that has no such multiple, keeps its width.
        ignored_layers: modules (or their names) whose groups are left alone. The classifier's outputs and the
            model's inputs are never pruned.
        max_layer_amount: at most this fraction of any group is removed.
    The report has parameters and FLOPs (MACs) before/after and every Linear/Conv2d's output width before/after.
    """
    validate_amount(amount)
    if scope not in ("local", "global"):
        raise ValueError(f"scope must be 'local' or 'global', got {scope!r}")
    if not 0 <= max_layer_amount < 1:
        raise ValueError(f"max_layer_amount must be in [0, 1), got {max_layer_amount}")
    if round_to is not None and (isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1):
        raise ValueError(f"round_to must be None or a positive int, got {round_to!r}")
    names = {id(m): n for n, m in model.named_modules()}
    ignored = {n if isinstance(n, str) else names.get(id(n)) for n in ignored_layers}
    unknown = ignored - set(names.values())
    if unknown:
        raise ValueError(f"ignored_layers: unknown layer(s) {sorted(unknown)}")
    new = copy.deepcopy(model)
    new_modules = dict(new.named_modules())
    scores = {}
    if isinstance(importance, dict):
        strangers = [f"{type(m).__name__}.{p}" for m, p in importance if id(m) not in names or p != "weight"]
        if strangers:
            raise ValueError(f"importance: keys must be (module of this model, 'weight'), got {strangers}")
        scores = {id(new_modules[names[id(module)]]): s for (module, _), s in importance.items()}
        importance = "l1"
    groups = [g for g in DependencyGraph(new, example_input).groups()
              if g.prunable and not any(m.module_name in ignored for m in g)]
    group_scores = [group_importance(g, importance, reduction, True, scores) for g in groups]
    if scope == "local":
        removals = [smallest_k(s, _channels_to_remove(g.size, amount, max_layer_amount, round_to))
                    for g, s in zip(groups, group_scores)]
    else:
        removals = _global_removals(groups, group_scores, amount, max_layer_amount, round_to)
    shape = tuple(np.shape(example_input.data if hasattr(example_input, "data") else example_input))
    before = _summary(model, shape)
    for group, drop in zip(groups, removals):
        if len(drop):
            group.prune(drop)
    after = _summary(new, shape)
    report = {"parameters_before": before["parameters"], "parameters_after": after["parameters"],
              "macs_before": before["macs"], "macs_after": after["macs"],
              "widths": {name: (before["widths"][name], after["widths"].get(name)) for name in before["widths"]}}
    return new, report


def _global_removals(groups, group_scores, amount, max_layer_amount, round_to):
    total = sum(g.size for g in groups)
    k = nparams_to_prune(amount, total)
    pooled = np.concatenate(group_scores).astype(np.float64)
    offsets = np.cumsum([0] + [g.size for g in groups])
    for i, (g, s) in enumerate(zip(groups, group_scores)):
        rank = np.empty(g.size, dtype=np.int64)
        rank[np.argsort(s, kind="stable")] = np.arange(g.size)
        pooled[offsets[i]:offsets[i + 1]][rank >= _cap(g.size, max_layer_amount)] = np.inf  # beyond the cap
    k = min(k, int(np.isfinite(pooled).sum()))
    chosen = smallest_k(pooled, k)
    counts = [int(np.count_nonzero((chosen >= lo) & (chosen < hi))) for lo, hi in zip(offsets[:-1], offsets[1:])]
    # round_to: each group's share is rounded to a hardware-friendly width, its weakest channels going first
    return [smallest_k(s, _round_removal(g.size, n, _cap(g.size, max_layer_amount), round_to))
            for g, s, n in zip(groups, group_scores, counts)]


def _summary(model, shape) -> dict:
    from .. import nn
    return {"parameters": int(sum(p.size for p in model.parameters())),
            "macs": metrics.flops(model, shape).dense,
            "widths": {n: trainable_parameter(m, "weight").shape[0] for n, m in model.named_modules()
                       if isinstance(m, (nn.Linear, nn.Conv2d))}}


def _effective(module, name):
    """The value ``module.<name>`` has in the forward pass (``orig · mask`` while pruned), or None."""
    if name in module._buffers:
        return module._buffers[name]
    param = module._parameters.get(name + "_orig", module._parameters.get(name))
    if param is None:
        return None
    mask = module._buffers.get(name + "_mask")
    return param.data if mask is None else param.data * mask


def _batch_norm_of_zero(bn) -> np.ndarray:
    """What an eval-mode BatchNorm outputs, per channel, for an all-zero channel: β − γ·μ/√(σ² + ε) (γ = 1,
    β = 0 without affine parameters; μ = 0 without running statistics, as the batch statistics are then 0)."""
    gamma, beta, mean, var = (_effective(bn, n) for n in ("weight", "bias", "running_mean", "running_var"))
    gamma = 1.0 if gamma is None else gamma
    shift = 0.0 if mean is None else gamma * mean / np.sqrt(var + bn.eps)
    return np.broadcast_to((0.0 if beta is None else beta) - shift, (bn.num_features,))


def zero_channels(group) -> np.ndarray:
    """Channels of a group whose value is exactly zero everywhere it is produced: every producer's weight slice
    and bias are 0 and every BatchNorm member outputs 0 for a zero input (β − γ·μ/√(σ² + ε) = 0)."""
    from .. import nn

    zero = np.ones(group.size, dtype=bool)
    channels = np.arange(group.size)
    for member in group:
        module = member.module
        depthwise = isinstance(module, nn.Conv2d) and module.groups > 1
        produces = isinstance(module, (nn.Linear, nn.Conv2d)) and member.dim == 0
        if produces and not (depthwise and member.param == "weight"):  # a depthwise filter keeps a zero at zero
            values = np.moveaxis(_member_values(member, {}), member.dim, 0)[member.indices_of(channels)]
            zero &= ~np.any(values.reshape(group.size, -1) != 0, axis=1)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            zero &= _batch_norm_of_zero(module)[member.indices_of(channels)] == 0
    return np.flatnonzero(zero)


def compact_graph(model, example_input):
    """:func:`~minprune.prune.compact.compact` for any traceable network: remove, group by group, the channels
    that are exactly zero at every producer (see :func:`zero_channels`); returns ``(new_model, report)``.

    A channel is removed only where *every* coupled member pruned it: masks from ``ln_structured`` on one conv
    of a residual stage remove nothing until every producer of the stage (and its BatchNorm's γ and β) is zero.
    The original model is not modified.
    """
    new = make_permanent(copy.deepcopy(model))
    shape = tuple(np.shape(example_input.data if hasattr(example_input, "data") else example_input))
    before = _summary(model, shape)
    for group in DependencyGraph(new, example_input).groups():
        drop = zero_channels(group)
        if group.prunable and 0 < len(drop) < group.size:
            group.prune(drop)
    after = _summary(new, shape)
    return new, {"parameters_before": before["parameters"], "parameters_after": after["parameters"],
                 "macs_before": before["macs"], "macs_after": after["macs"],
                 "widths": {n: (before["widths"][n], after["widths"].get(n)) for n in before["widths"]}}


def make_permanent(model):
    """``remove`` every pruning re-parametrisation of ``model`` in place (weights become orig · mask)."""
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, BasePruningMethod):
                remove(module, hook._tensor_name)
    return model
