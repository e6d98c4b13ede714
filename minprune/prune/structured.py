"""Structured pruning: remove whole neurons, filters or channels (the seed's §5 structured/filter/channel rows).

A *channel* is a slice of a weight along one dimension ``dim``:

- ``Linear.weight`` (out, in): ``dim=0`` removes output neurons, ``dim=1`` input features;
- ``Conv2d.weight`` (out, in, kh, kw): ``dim=0`` removes filters (output channels), ``dim=1`` input channels.

Channels are ranked by a norm of their entries (``ln_structured``: L1, L2, L∞ over every dim but ``dim``),
the smallest are masked to zero — and :func:`~minprune.prune.compact.compact` later cuts them out for real.
Unlike unstructured zeros, removed channels shrink the dense matrices, so they speed up inference directly.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from .base import (BasePruningMethod, _array, _check_dim, current_value, nparams_to_prune, smallest_k,
                   validate_amount)
from .unstructured import L1Unstructured, RandomUnstructured, custom_from_mask, global_unstructured


def channel_norms(t: np.ndarray, n=2, dim: int = 0) -> np.ndarray:
    """The L_n norm of every slice of ``t`` along ``dim``: ‖t[..., c, ...]‖_n for each channel c.

    ``n``: 1, 2, any p > 0, ``np.inf`` (max |·|) or ``-np.inf`` (min |·|). Shape: t (…) → (t.shape[dim],).
    Cost O(t.size).
    """
    dim = _check_dim(t, dim)
    per_channel = int(np.prod([size for d, size in enumerate(t.shape) if d != dim]))  # not -1: C may be 0
    moved = np.moveaxis(np.abs(t), dim, 0).reshape(t.shape[dim], per_channel)
    if n == np.inf:
        return moved.max(axis=1, initial=0.0)
    if n == -np.inf:
        return moved.min(axis=1) if moved.shape[1] else np.zeros(len(moved))
    if not n > 0:
        raise ValueError(f"norm order n must be > 0 or ±inf, got {n}")
    return (moved ** n).sum(axis=1) ** (1.0 / n)


def ln_structured_mask(t: np.ndarray, amount, n=2, dim: int = 0) -> np.ndarray:
    """Mask that zeroes the ``round(amount · C)`` channels of ``t`` along ``dim`` with the smallest L_n norm.

    C = t.shape[dim]; among channels of equal norm the lower index is pruned first. Returns a float32 0/1 array
    of t's shape, constant along every dim but ``dim``. Example: t = [[3, 4], [0, 1], [1, 1]] (rows are
    channels with L2 norms 5, 1, √2), amount 1/3, dim 0 → row 1 is pruned: [[1, 1], [0, 0], [1, 1]].
    """
    # BEGIN SOLUTION
    t = np.asarray(t)
    dim = _check_dim(t, dim)
    norms = channel_norms(t, n, dim)
    keep = np.ones(t.shape[dim], dtype=np.float32)
    keep[smallest_k(norms, nparams_to_prune(amount, t.shape[dim]))] = 0
    shape = [1] * t.ndim
    shape[dim] = -1
    return np.broadcast_to(keep.reshape(shape), t.shape).astype(np.float32)
    # END SOLUTION


def _validate_structured(t: np.ndarray, dim: int):
    if np.ndim(t) <= 1:
        raise ValueError(f"Structured pruning can only be applied to multidimensional tensors. "
                         f"Found tensor of shape {np.shape(t)} with {np.ndim(t)} dims")
    _check_dim(t, dim)


class LnStructured(BasePruningMethod):
    """Prune the ``amount`` channels along ``dim`` with the smallest L_n norm (Li et al. 2017 use L1 on filters)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim: int = -1):
        validate_amount(amount)
        self.amount, self.n, self.dim = amount, n, dim

    def compute_mask(self, t, default_mask):
        _validate_structured(t, self.dim)
        nparams_to_prune(self.amount, t.shape[self.dim])  # an int amount larger than C raises ValueError
        return ln_structured_mask(t, self.amount, self.n, self.dim).astype(default_mask.dtype) * default_mask


class RandomStructured(BasePruningMethod):
    """Prune ``amount`` channels along ``dim`` chosen at random (the structured baseline)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim: int = -1, rng: np.random.Generator | None = None):
        validate_amount(amount)
        self.amount, self.dim = amount, dim
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def compute_mask(self, t, default_mask):
        _validate_structured(t, self.dim)
        dim = _check_dim(t, self.dim)
        shape = [1] * t.ndim
        shape[dim] = -1
        random_channels = np.broadcast_to(self.rng.random(t.shape[dim]).reshape(shape), t.shape)
        return ln_structured_mask(random_channels, self.amount, np.inf, dim).astype(default_mask.dtype) * default_mask


def ln_structured(module, name: str, amount, n, dim: int, importance_scores=None):
    """Prune the ``amount`` channels of ``module.<name>`` along ``dim`` with the smallest L_n norm of their
    importance scores (default: the weight). As PyTorch; only channels not already pruned are counted."""
    LnStructured.apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)
    return module


def random_structured(module, name: str, amount, dim: int, rng: np.random.Generator | None = None):
    """Prune ``amount`` random channels of ``module.<name>`` along ``dim``."""
    RandomStructured.apply(module, name, amount=amount, dim=dim, rng=rng)
    return module


NORMALIZATIONS = ("none", "mean", "max", "l2")


def _normalize(scores: np.ndarray, how: str) -> np.ndarray:
    alive = scores[scores > 0]
    if how == "none" or alive.size == 0:
        return scores
    scale = {"mean": alive.mean(), "max": alive.max(), "l2": np.sqrt((alive ** 2).sum())}[how]
    return scores / scale


def global_structured(parameters, amount, n=2, dim: int = 0, importance_scores=None, normalize: str = "mean"):
    """Prune ``amount`` of all the channels of several parameters together, ranked across layers (beyond PyTorch).

    Raw channel norms are not comparable across layers: a filter's L2 norm grows with √(fan-in) and layers are
    initialised and trained to different scales, so a global ranking on raw norms would empty the layers with
    small weights first. ``normalize`` divides each layer's channel norms by the layer's mean ("mean"), max
    ("max") or L2 norm ("l2") of its alive channels; "none" ranks raw norms. Each layer keeps at least its
    best channel, so no layer is removed entirely. A fraction counts the channels still alive.

    ``parameters``: iterable of ``(module, name)``; ``importance_scores``: optional dict keyed like it.
    """
    parameters = list(parameters)
    validate_amount(amount)
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    importance_scores = importance_scores or {}
    channel_scores, alive = [], []
    for module, name in parameters:
        weight = current_value(module, name)  # orig · mask where pruned
        scores = _array(importance_scores.get((module, name), weight))
        _validate_structured(scores, dim)
        if scores.shape != weight.shape:
            raise ValueError(f"importance_scores for {type(module).__name__}.{name} must have shape {weight.shape}")
        mask = getattr(module, name + "_mask", np.ones(weight.shape))
        live = channel_norms(mask, 1, dim) > 0
        norms = np.where(live, _normalize(channel_norms(scores, n, dim) * live, normalize), np.inf)
        norms[np.argmax(np.where(live, norms, -np.inf))] = np.inf  # each layer keeps its best channel
        channel_scores.append(norms)
        alive.append(live)
    pooled = np.concatenate(channel_scores)
    k = nparams_to_prune(amount, int(np.concatenate(alive).sum()))
    pruned = np.zeros(pooled.size, dtype=bool)
    pruned[smallest_k(pooled, min(k, int(np.isfinite(pooled).sum())))] = True
    offsets = np.cumsum([len(s) for s in channel_scores])[:-1]
    for (module, name), drop in zip(parameters, np.split(pruned, offsets)):
        weight = current_value(module, name)
        shape = [1] * weight.ndim
        shape[dim] = -1
        custom_from_mask(module, name, np.broadcast_to((~drop).reshape(shape), weight.shape).astype(weight.dtype))


# ---------------------------------------------------------------------- helpers that read like the seed
def _scores_for(module, criterion):
    """Importance scores from a criterion name or an array / dict (see prune.criteria)."""
    if criterion is None or isinstance(criterion, str):
        return None
    if isinstance(criterion, dict):
        return criterion.get((module, "weight"))
    return _array(criterion)


_NORM_ORDERS = {"l1": 1, "l2": 2, "linf": np.inf}


def _prune_channels(module, amount, criterion, dim, prune_bias, rng):
    if isinstance(criterion, str) and criterion == "random":  # (criterion may be an array: no elementwise ==)
        random_structured(module, "weight", amount, dim=dim, rng=rng)
    else:
        if isinstance(criterion, str) and criterion not in _NORM_ORDERS:
            raise ValueError(f"criterion must be one of {sorted(_NORM_ORDERS) + ['random']} or scores, "
                             f"got {criterion!r}")
        n = _NORM_ORDERS[criterion] if isinstance(criterion, str) else 2  # given scores: L2 of their slices
        ln_structured(module, "weight", amount, n=n, dim=dim, importance_scores=_scores_for(module, criterion))
    if prune_bias and dim == 0 and module.bias is not None:
        # the bias of a removed neuron/filter goes too, so the channel's output is exactly 0
        channel_alive = channel_norms(module.weight_mask, 1, 0) > 0
        custom_from_mask(module, "bias", channel_alive.astype(module.weight.dtype))
    return module


def prune_neurons(linear: nn.Linear, amount, criterion="l2", prune_bias: bool = True, rng=None) -> nn.Linear:
    """Remove ``amount`` output neurons of a Linear layer (rows of its weight, and their biases).

    ``criterion``: "l1" | "l2" | "linf" (norm of the row), "random", or importance scores (an array of the
    weight's shape or a criteria dict). Example: ``prune_neurons(model.fc1, 0.5)`` removes half of fc1's neurons.
    """
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"prune_neurons expects an nn.Linear, got {type(linear).__name__}")
    return _prune_channels(linear, amount, criterion, 0, prune_bias, rng)


def prune_filters(conv: nn.Conv2d, amount, criterion="l1", prune_bias: bool = True, rng=None) -> nn.Conv2d:
    """Remove ``amount`` filters (output channels) of a Conv2d, ranked by ``criterion`` (L1 as Li et al. 2017)."""
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"prune_filters expects an nn.Conv2d, got {type(conv).__name__}")
    return _prune_channels(conv, amount, criterion, 0, prune_bias, rng)


def prune_channels(conv: nn.Conv2d, amount, criterion="l1", rng=None) -> nn.Conv2d:
    """Remove ``amount`` input channels of a Conv2d (dim 1 of its weight); compaction then also removes the
    matching output channels of the layer that produces them."""
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"prune_channels expects an nn.Conv2d, got {type(conv).__name__}")
    return _prune_channels(conv, amount, criterion, 1, False, rng)


def prunable_parameters(model, structured: bool = False) -> dict:
    """``{"fc1.weight": (module, "weight"), ...}`` for every Linear and Conv2d of ``model``, in order.

    For structured pruning the last layer is left out: its outputs are the classes, which must all stay.
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if structured:
        layers = layers[:-1]
    return {f"{name}.weight": (module, "weight") for name, module in layers}


def _alive(module, name: str, structured: bool, dim: int) -> int:
    """What a new amount is counted against (as the PruningContainer does): the entries still unpruned, or for
    structured pruning the channels along ``dim`` not entirely pruned. Raises the pruning errors early."""
    weight = current_value(module, name)
    mask = getattr(module, name + "_mask", np.ones(weight.shape))
    if structured:
        _validate_structured(weight, dim)
        return int((channel_norms(mask, 1, dim) > 0).sum())
    return int((mask == 1).sum())


def prune_model(model, amount, method: str = "l1", scope: str = "local", n=2, dim: int = 0, parameters=None,
                rng=None, normalize: str = "mean"):
    """Prune a whole model in one call.

    Args:
        amount: a fraction/count for every layer, or a dict ``{"fc1.weight": 0.5, "fc2.weight": 0.3}`` (local).
        method: "l1" (magnitude, unstructured), "random" (unstructured), "ln" (channels by L_n norm along
            ``dim``, structured) or "random_structured".
        scope: "local" (each layer loses ``amount`` of its own weights/channels) or "global" (``amount`` of all
            of them, ranked together — the small, important layers keep more).
        parameters: the ``{"name": (module, "weight")}`` to prune; default :func:`prunable_parameters`.

    Every argument is checked before anything is pruned, so an error leaves the model unchanged.
    """
    methods = ("l1", "random", "ln", "random_structured")
    if method not in methods:
        raise ValueError(f"prune_model: method must be one of {methods}, got {method!r}")
    if scope not in ("local", "global"):
        raise ValueError(f"prune_model: scope must be 'local' or 'global', got {scope!r}")
    structured = method in ("ln", "random_structured")
    parameters = prunable_parameters(model, structured) if parameters is None else dict(parameters)
    if isinstance(amount, dict):
        if scope == "global":
            raise ValueError("prune_model: a per-layer amount dict needs scope='local'")
        unknown = sorted(set(amount) - set(parameters))
        if unknown:
            raise KeyError(f"prune_model: unknown parameter name(s) {unknown}; prunable: {sorted(parameters)}")
        amounts = dict(amount)
    else:
        amounts = {key: amount for key in parameters}
    for key, value in amounts.items():
        validate_amount(value)
        if scope == "local":  # the global functions check the pooled count themselves, before pruning
            module, name = parameters[key]
            nparams_to_prune(value, _alive(module, name, structured, dim))
    rng = rng if rng is not None else np.random.default_rng(0)
    if scope == "global":
        pairs = list(parameters.values())
        if method == "ln":
            global_structured(pairs, amount, n=n, dim=dim, normalize=normalize)
        elif structured:
            raise ValueError("prune_model: random_structured has no global scope")
        else:
            cls, kwargs = (L1Unstructured, {}) if method == "l1" else (RandomUnstructured, {"rng": rng})
            global_unstructured(pairs, cls, amount=amount, **kwargs)
        return model
    for key, value in amounts.items():
        module, name = parameters[key]
        if method == "l1":
            L1Unstructured.apply(module, name, amount=value)
        elif method == "random":
            RandomUnstructured.apply(module, name, amount=value, rng=rng)
        elif method == "ln":
            ln_structured(module, name, value, n=n, dim=dim)
        else:
            random_structured(module, name, value, dim=dim, rng=rng)
    return model
