"""Pruning schedules and the loops that use them (the seed §9 fine-tuning and §10 gradual pruning).

A schedule answers, at optimizer step ``t``: *should we prune now, and to what total sparsity?*
``schedule(t) -> (should_prune, sparsity)``, with TensorFlow Model Optimization's semantics:

- ``PolynomialDecay`` (Zhu & Gupta 2017, "To prune, or not to prune"): s_t = s_f + (s_i − s_f)(1 − p)^power,
  p = clip((t − begin) / (end − begin), 0, 1) — prune fast while many weights are redundant, slowly near the
  end. A pruning turn is t ≥ begin and t ≤ end (or end = −1, "forever") and (t − begin) % frequency == 0.
- ``ConstantSparsity``: the target on every turn. ``Linear``: power 1. ``OneShot``: once.
- ``Steps([0.1, 0.2, 0.3], every=k)``: the seed's recipe — 10 %, then 20 %, then 30 %, fine-tuning in between.

The :class:`Pruner` callback plugs a schedule into ``train.fit``; :func:`prune_to_sparsity` is the step they
all share: raise the sparsity of some parameters to a total target while keeping pruned weights pruned.
"""
from __future__ import annotations

import copy
import numbers

import numpy as np

from .. import nn
from ..train import Callback, evaluate
from .base import _find_method, nparams_to_prune, smallest_k
from .structured import channel_norms
from .unstructured import custom_from_mask


# ---------------------------------------------------------------------- schedules
def _validate_sparsity(value, name: str):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in range [0, 1), got {value!r}")


def _validate_steps(begin_step: int, end_step: int, frequency: int, allow_forever: bool):
    if begin_step < 0:
        raise ValueError(f"begin_step should be >= 0, got {begin_step}")
    if end_step == -1 and not allow_forever:
        raise ValueError("end_step cannot be -1 for a schedule that decays towards its end")
    if end_step != -1 and end_step < begin_step:
        raise ValueError(f"begin_step ({begin_step}) should be <= end_step ({end_step}) if end_step != -1")
    if end_step < -1:
        raise ValueError(f"end_step can be -1 or >= 0, got {end_step}")
    if frequency <= 0:
        raise ValueError(f"frequency should be > 0, got {frequency}")


class PruningSchedule:
    """Base class: ``schedule(step) -> (should_prune, sparsity)``; ``end_step`` is −1 for "forever"."""

    begin_step, end_step, frequency = 0, -1, 1

    def is_pruning_turn(self, step: int) -> bool:
        in_range = step >= self.begin_step and (step <= self.end_step or self.end_step < 0)
        return in_range and (step - self.begin_step) % self.frequency == 0

    def sparsity(self, step: int) -> float:
        raise NotImplementedError

    def __call__(self, step: int):
        return self.is_pruning_turn(step), self.sparsity(step)

    def curve(self, steps) -> np.ndarray:
        """The target sparsity at each of ``steps`` (for plots)."""
        return np.array([self.sparsity(int(t)) for t in steps])


class ConstantSparsity(PruningSchedule):
    """Prune to ``target_sparsity`` on every turn from ``begin_step`` (TF-MOT's ConstantSparsity)."""

    def __init__(self, target_sparsity: float, begin_step: int, end_step: int = -1, frequency: int = 100):
        _validate_sparsity(target_sparsity, "target_sparsity")
        _validate_steps(begin_step, end_step, frequency, allow_forever=True)
        self.target_sparsity, self.begin_step, self.end_step, self.frequency = (
            float(target_sparsity), begin_step, end_step, frequency)

    def sparsity(self, step):
        return self.target_sparsity


class OneShot(ConstantSparsity):
    """Prune once, to ``sparsity``, at ``step``."""

    def __init__(self, sparsity: float, step: int = 0):
        super().__init__(sparsity, begin_step=step, end_step=step, frequency=1)


class PolynomialDecay(PruningSchedule):
    """TF-MOT's PolynomialDecay: s_t = s_f + (s_i − s_f)(1 − p)^power, p = clip((t − b)/(e − b), 0, 1).

    Computed in float32, as TensorFlow does, so the values match TF-MOT's exactly. Needs end_step > begin_step.
    """

    def __init__(self, initial_sparsity: float, final_sparsity: float, begin_step: int, end_step: int,
                 power: float = 3, frequency: int = 100):
        _validate_sparsity(initial_sparsity, "initial_sparsity")
        _validate_sparsity(final_sparsity, "final_sparsity")
        _validate_steps(begin_step, end_step, frequency, allow_forever=False)
        if end_step == begin_step:
            raise ValueError(f"PolynomialDecay needs end_step > begin_step, got both {begin_step}")
        self.initial_sparsity, self.final_sparsity = initial_sparsity, final_sparsity
        self.begin_step, self.end_step, self.power, self.frequency = begin_step, end_step, power, frequency

    def sparsity(self, step):
        return polynomial_decay_sparsity(step, self.initial_sparsity, self.final_sparsity, self.begin_step,
                                         self.end_step, self.power)


def polynomial_decay_sparsity(step: int, initial: float, final: float, begin: int, end: int,
                              power: float = 3) -> float:
    """The target sparsity of the polynomial schedule at ``step`` (Zhu & Gupta 2017; TF-MOT's PolynomialDecay):

        p = clip((step − begin) / (end − begin), 0, 1),    s = final + (initial − final) · (1 − p)^power

    Before ``begin`` it is ``initial``, after ``end`` it stays ``final``; power 3 prunes fast early, slowly
    late. (TensorFlow computes this in float32; so does minprune, to give the very same numbers.)
    """
    # BEGIN SOLUTION
    f32 = np.float32
    p = f32(step - begin) / f32(end - begin)
    p = min(f32(1.0), max(f32(0.0), p))
    return float(f32(f32(initial - final) * np.power(f32(1.0) - p, f32(power)) + f32(final)))
    # END SOLUTION


class Linear(PolynomialDecay):
    """Sparsity rising linearly from ``initial_sparsity`` to ``final_sparsity`` (PolynomialDecay with power 1)."""

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, frequency=100):
        super().__init__(initial_sparsity, final_sparsity, begin_step, end_step, power=1, frequency=frequency)


class Steps(PruningSchedule):
    """The seed's gradual recipe: sparsity ``levels[k]`` at step ``begin_step + k·every`` (10 → 20 → 30 %)."""

    def __init__(self, levels, every: int, begin_step: int = 0):
        levels = list(levels)
        if not levels:
            raise ValueError("Steps needs at least one sparsity level")
        for i, level in enumerate(levels):
            _validate_sparsity(level, f"levels[{i}]")
        if any(b < a for a, b in zip(levels, levels[1:])):
            raise ValueError(f"Steps levels must not decrease, got {levels}")
        if every <= 0:  # checked first: a negative `every` would otherwise be reported as end_step < begin_step
            raise ValueError(f"every should be > 0, got {every}")
        _validate_steps(begin_step, begin_step + every * (len(levels) - 1), every, allow_forever=False)
        self.levels, self.every, self.begin_step = levels, every, begin_step
        self.end_step, self.frequency = begin_step + every * (len(levels) - 1), every

    def sparsity(self, step):
        k = (step - self.begin_step) // self.every
        return 0.0 if step < self.begin_step else self.levels[min(k, len(self.levels) - 1)]


# ---------------------------------------------------------------------- pruning to a target
def prunable_pairs(model) -> list:
    """``(module, "weight")`` of every Linear and Conv2d of ``model``."""
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def current_mask(module, name: str) -> np.ndarray:
    mask = module._buffers.get(name + "_mask")
    return np.ones(getattr(module, name).shape, dtype=np.float32) if mask is None else mask


def set_mask(module, name: str, mask: np.ndarray):
    """Install ``mask`` as the mask of ``module.<name>``: the first time through ``custom_from_mask``, later by
    replacing the mask buffer (no growing chain of methods) and refreshing the effective weight."""
    method = _find_method(module, name)
    if method is None:
        custom_from_mask(module, name, mask)
    else:
        module._buffers[name + "_mask"] = np.asarray(mask, dtype=module._buffers[name + "_mask"].dtype)
        setattr(module, name, method.apply_mask(module))


def prune_to_sparsity(parameters, sparsity: float, scores: dict | None = None, scope: str = "global",
                      structured: bool = False, dim: int = 0):
    """Raise the sparsity of ``parameters`` (``[(module, name)]``) to a *total* of ``sparsity``.

    Entries (or channels, with ``structured``) are ranked by ``scores`` (``{(module, name): array}``, default
    |w|); already-pruned ones rank lowest, so pruned weights stay pruned and exactly
    ``round(sparsity · n)`` are zero afterwards (n per layer for ``scope="local"``, over all for "global").
    Structured channels are ranked by the L2 norm of their scores (global: normalised by each layer's mean).
    """
    _validate_sparsity(sparsity, "sparsity")
    if scope not in ("global", "local"):
        raise ValueError(f"scope must be 'global' or 'local', got {scope!r}")
    scores = scores or {}
    ranked, masks = [], []
    for module, name in parameters:
        mask = current_mask(module, name)
        value = scores.get((module, name))
        value = np.abs(getattr(module, name + "_orig", getattr(module, name)).data * mask) if value is None else np.abs(value)
        if structured:
            alive = channel_norms(mask, 1, dim) > 0
            norms = channel_norms(value, 2, dim)
            if scope == "global" and norms[alive].size:
                norms = norms / max(float(norms[alive].mean()), 1e-12)
            ranked.append(np.where(alive, norms, -np.inf))
        else:
            ranked.append(np.where(mask > 0, value, -np.inf).ravel())
        masks.append(mask)
    groups = [np.concatenate(ranked)] if scope == "global" else ranked
    drops = [smallest_k(group, nparams_to_prune(float(sparsity), group.size)) for group in groups]
    if scope == "global":
        flat = np.zeros(groups[0].size, dtype=bool)
        flat[drops[0]] = True
        pruned = np.split(flat, np.cumsum([r.size for r in ranked])[:-1])
    else:
        pruned = [np.isin(np.arange(r.size), d) for r, d in zip(ranked, drops)]
    for (module, name), mask, drop in zip(parameters, masks, pruned):
        if structured:
            shape = [1] * mask.ndim
            shape[dim] = -1
            new_mask = mask * (~drop).reshape(shape)
        else:
            new_mask = mask * (~drop).reshape(mask.shape)
        set_mask(module, name, new_mask.astype(np.float32))


# ---------------------------------------------------------------------- the training-loop callback
class Pruner(Callback):
    """A ``train.fit`` callback that prunes on a schedule: ``fit(..., callbacks=[Pruner(model, schedule)])``.

    At every optimizer step t (``state.step``: 0 before the first step) it asks ``schedule(t)`` and, on a
    pruning turn, raises the model's sparsity to the scheduled total with :func:`prune_to_sparsity`, ranking by
    ``criterion`` (None = magnitude, or a function ``model -> scores dict`` from ``prune.criteria`` —
    data-driven ones can close over a batch). It also prunes at ``end_step`` when that is not a turn, so the
    final target is always reached. ``history`` records (step, sparsity) of every pruning.
    """

    def __init__(self, model, schedule: PruningSchedule, parameters=None, criterion=None, scope: str = "global",
                 structured: bool = False, dim: int = 0):
        self.model, self.schedule = model, schedule
        self.parameters = prunable_pairs(model) if parameters is None else list(parameters)
        self.criterion, self.scope, self.structured, self.dim = criterion, scope, structured, dim
        self.history = []

    def _maybe_prune(self, step: int):
        should_prune, sparsity = self.schedule(step)
        if not should_prune and step != self.schedule.end_step:
            return
        if self.history and self.history[-1][0] == step:
            return  # a second fit() begins at the step the first one ended on, which was already handled
        scores = None if self.criterion is None else self.criterion(self.model)
        prune_to_sparsity(self.parameters, sparsity, scores, self.scope, self.structured, self.dim)
        self.history.append((step, sparsity))

    def on_train_begin(self, state):
        self._maybe_prune(state.step)

    def on_step_end(self, state):
        self._maybe_prune(state.step)


# ---------------------------------------------------------------------- experiments
def iterative_prune(model, rates, fine_tune, data, scope: str = "global", criterion=None, parameters=None) -> list:
    """The seed's §4/§10 loop: for each total sparsity in ``rates`` (e.g. [0.1, 0.2, 0.3]) prune → evaluate →
    ``fine_tune(model)`` → evaluate. ``data`` is a loader for evaluation. Prunes ``model`` in place and returns
    the history: one dict per step with sparsity, accuracy_pruned (before fine-tuning) and accuracy (after)."""
    parameters = prunable_pairs(model) if parameters is None else list(parameters)
    history = []
    for rate in rates:
        prune_to_sparsity(parameters, rate, None if criterion is None else criterion(model), scope)
        before = evaluate(model, data).accuracy
        fine_tune(model)
        history.append({"sparsity": rate, "accuracy_pruned": before, "accuracy": evaluate(model, data).accuracy})
    return history


def sensitivity_scan(model, data, sparsities=(0.3, 0.5, 0.7, 0.8, 0.9, 0.95), parameters=None) -> dict:
    """Accuracy when pruning ONE layer at a time (magnitude, local) to each sparsity, others untouched (Han
    et al. 2015, Fig. 5): ``{layer name: [accuracy at each sparsity]}``. The model itself is not modified."""
    names = {id(m): n for n, m in model.named_modules()}
    parameters = prunable_pairs(model) if parameters is None else list(parameters)
    curves = {}
    for module, name in parameters:
        accuracies = []
        for sparsity in sparsities:
            trial = copy.deepcopy(model)
            index = [id(m) for m in model.modules()].index(id(module))
            trial_module = list(trial.modules())[index]
            prune_to_sparsity([(trial_module, name)], sparsity, scope="local")
            accuracies.append(evaluate(trial, data).accuracy)
        curves[f"{names[id(module)]}.{name}"] = accuracies
    return curves
