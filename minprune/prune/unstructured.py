"""Unstructured pruning: zero individual weights (the seed's §5 "weight pruning" and §7 example).

Functions mirror ``torch.nn.utils.prune``::

    prune.l1_unstructured(model.fc1, "weight", amount=0.3)      # the 30 % smallest |w| of fc1
    prune.global_unstructured([(model.fc1, "weight"), (model.fc2, "weight")],
                              pruning_method=prune.L1Unstructured, amount=0.8)
    prune.threshold_unstructured(model.fc1, "weight", threshold=0.01)   # the seed's |w| < 0.01

Ties: among equal scores the lower flat index is pruned first (see :func:`~minprune.prune.base.smallest_k`).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..nn.module import Module
from .base import (BasePruningMethod, PruningContainer, _array, current_value, nparams_to_prune, smallest_k,
                   validate_amount)


def magnitude_mask(scores: np.ndarray, amount, default_mask: np.ndarray | None = None) -> np.ndarray:
    """Magnitude pruning (Han et al. 2015): zero the ``round(amount · n)`` entries of smallest |score|.

    ``amount`` is a fraction in [0, 1] (rounded with Python's round, as PyTorch) or an int count. Among equal
    |scores| the lower flat index is pruned first. The result is ``default_mask`` (ones if None) with those
    entries set to 0, same shape and dtype. Cost O(n) with ``np.partition`` (via :func:`smallest_k`).

    Example: scores [0.2, 0.001, -0.8, 0.0005, 0.9], amount 0.4 → mask [1, 0, 1, 0, 1].
    """
    # BEGIN SOLUTION
    scores = np.asarray(scores)
    mask = np.ones(scores.shape, dtype=np.float32) if default_mask is None else np.array(default_mask, order="C")
    k = nparams_to_prune(amount, scores.size)
    mask.reshape(-1)[smallest_k(np.abs(scores), k)] = 0
    return mask
    # END SOLUTION


def threshold_mask(weight: np.ndarray, threshold: float) -> np.ndarray:
    """The seed's §7 rule: keep a weight only if |w| ≥ threshold. Returns a float32 0/1 mask of weight's shape.

    Example: [0.2, 0.001, -0.8, 0.0005, 0.9] with threshold 0.01 → [1, 0, 1, 0, 1].
    """
    # BEGIN SOLUTION
    return (np.abs(weight) >= threshold).astype(np.float32)
    # END SOLUTION


def global_magnitude_threshold(weights, amount: float) -> float:
    """The magnitude below which a fraction ``amount`` of *all* the given weights lie (global pruning).

    Pool every entry of every array, and return the ``k``-th smallest |w| with ``k = round(amount · N)``
    (N the total count): pruning each layer's entries with |w| below it (plus ties at it) removes ``amount`` of
    the network. Returns 0.0 when k = 0. Cost O(N) with ``np.partition``.
    """
    # BEGIN SOLUTION
    pooled = np.concatenate([np.abs(np.ravel(w)) for w in weights])
    k = nparams_to_prune(amount, pooled.size)
    if k == 0:
        return 0.0
    return float(np.partition(pooled, k - 1)[k - 1])
    # END SOLUTION


class Identity(BasePruningMethod):
    """Prunes nothing: the mask stays all ones (useful to add the re-parametrisation only)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask


class L1Unstructured(BasePruningMethod):
    """Prune the ``amount`` entries of smallest absolute value (int: count; float: fraction)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        validate_amount(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        return magnitude_mask(t, self.amount, default_mask)


class RandomUnstructured(BasePruningMethod):
    """Prune ``amount`` entries chosen uniformly at random (a baseline every criterion must beat)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount, rng: np.random.Generator | None = None):
        validate_amount(amount)
        self.amount = amount
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def compute_mask(self, t, default_mask):
        return magnitude_mask(self.rng.random(np.shape(t)), self.amount, default_mask)


class ThresholdUnstructured(BasePruningMethod):
    """Prune every entry with |score| < ``threshold`` (the seed's §7)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, threshold: float):
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise TypeError(f"threshold must be a real number, got {threshold!r}")
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        self.threshold = float(threshold)

    def compute_mask(self, t, default_mask):
        return default_mask * threshold_mask(t, self.threshold).astype(default_mask.dtype)


class CustomFromMask(BasePruningMethod):
    """Apply a given 0/1 mask (combined with any existing one)."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = _array(mask)

    def compute_mask(self, t, default_mask):
        if default_mask.shape != self.mask.shape:
            raise ValueError(f"mask shape {self.mask.shape} does not match the parameter's shape {default_mask.shape}")
        return default_mask * self.mask.astype(default_mask.dtype)


def identity(module: Module, name: str) -> Module:
    """Add the pruning re-parametrisation without pruning anything (mask of ones)."""
    Identity.apply(module, name)
    return module


def l1_unstructured(module: Module, name: str, amount, importance_scores=None) -> Module:
    """Prune the ``amount`` smallest-|score| entries of ``module.<name>`` (scores default to the weight)."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_unstructured(module: Module, name: str, amount, rng: np.random.Generator | None = None) -> Module:
    """Prune ``amount`` entries of ``module.<name>`` at random (``rng`` a np.random.Generator)."""
    RandomUnstructured.apply(module, name, amount=amount, rng=rng)
    return module


def threshold_unstructured(module: Module, name: str, threshold: float, importance_scores=None) -> Module:
    """Prune the entries of ``module.<name>`` whose |score| is below ``threshold`` (the seed's §7)."""
    ThresholdUnstructured.apply(module, name, threshold=threshold, importance_scores=importance_scores)
    return module


def custom_from_mask(module: Module, name: str, mask) -> Module:
    """Prune ``module.<name>`` with a given mask (int or float 0/1 array of the parameter's shape)."""
    CustomFromMask.apply(module, name, mask=mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prune several parameters together, as one pooled vector (e.g. the 80 % smallest |w| of the whole net).

    ``parameters``: iterable of ``(module, name)``; ``pruning_method``: an unstructured method class such as
    ``L1Unstructured``; ``importance_scores``: optional dict ``{(module, name): scores}``; ``kwargs`` go to the
    method (``amount=``). As PyTorch, a fraction applies to the entries still unpruned, and each parameter then
    gets a ``CustomFromMask`` with its slice of the pooled mask.

    Why global: layers differ in size and weight scale, so one threshold for all lets the pruner remove more
    from over-parameterised layers (fc1 of LeNet-300-100) and spare small, sensitive ones (the classifier).
    """
    try:
        parameters = list(parameters)
    except TypeError:
        raise TypeError("global_unstructured(): parameters is not an Iterable") from None
    importance_scores = {} if importance_scores is None else importance_scores
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
                        f"Found method {pruning_method} of type {method.PRUNING_TYPE}")
    weights = [current_value(module, name) for module, name in parameters]  # orig · mask where pruned
    scores = []
    for (module, name), weight in zip(parameters, weights):
        score = _array(importance_scores.get((module, name), weight))
        if score.shape != weight.shape:
            raise ValueError(f"importance_scores for {type(module).__name__}.{name} must have shape "
                             f"{weight.shape}, got {score.shape}")
        scores.append(np.ravel(score))
    masks = [np.ravel(getattr(module, name + "_mask", np.ones(w.shape, dtype=w.dtype)))
             for (module, name), w in zip(parameters, weights)]
    if not scores:
        return
    method._tensor_name = "pooled"
    pooled_mask = PruningContainer(method).compute_mask(np.concatenate(scores), np.concatenate(masks))
    offsets = np.cumsum([w.size for w in weights])[:-1]
    for (module, name), weight, mask in zip(parameters, weights, np.split(pooled_mask, offsets)):
        custom_from_mask(module, name, mask.reshape(weight.shape))
