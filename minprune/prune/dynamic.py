"""Dynamic pruning: masks that change *during* training (the seed §5 "dynamic pruning" and §15 research).

- **Movement pruning** (Sanh, Wolf & Rush 2020): keep the weights moving *away* from zero during fine-tuning,
  not the large ones. Scores accumulate S ← S − (∂L/∂W) ⊙ W every step; hard movement keeps the top-k scores
  (k from a schedule); the soft variant keeps every weight whose score exceeds a threshold τ.
- **DropConnect / WeightDrop** (Wan et al. 2013; Merity et al. 2017): a fresh random mask on the *weights* at
  every training forward, scaled by 1/(1 − p) — a regulariser, no mask at evaluation.
- **SET** (Mocanu et al. 2018) and **RigL** (Evci et al. 2020): train a sparse network from scratch at fixed
  per-layer density; every ΔT steps drop the weakest connections and grow new ones — SET at random, RigL
  where the dense gradient is largest. Regrown weights start at exactly 0 with fresh optimizer state
  (momentum and Adam moments reset there), so stale momentum cannot fling them away.

All are ``train.fit`` callbacks (or hooks) on top of the mask mechanism of ``prune.base``.
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..train import Callback
from .base import smallest_k
from .schedules import PruningSchedule, current_mask, prunable_pairs, set_mask
from .unstructured import identity


class _RetainDenseGradient:
    """Forward pre-hook (after the pruning hook) that keeps the gradient of the *effective* weight, which is
    dL/dW' for every entry, pruned or not — the gradient RigL and movement pruning read."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, module, inputs):
        getattr(module, self.name).retain_grad()


def dense_gradient(module, name: str = "weight") -> np.ndarray:
    """dL/dW' of the effective weight after ``backward()`` (zeros if no gradient reached it)."""
    weight = getattr(module, name)
    return np.zeros(weight.shape, weight.dtype) if weight.grad is None else weight.grad


def _prepare(parameters):
    """Re-parametrise every parameter (mask of ones if unpruned) and keep dense gradients of the effective weight."""
    for module, name in parameters:
        if name + "_mask" not in module._buffers:
            identity(module, name)
        if not any(isinstance(h, _RetainDenseGradient) and h.name == name for h in module._forward_pre_hooks.values()):
            module.register_forward_pre_hook(_RetainDenseGradient(name))


def _orig(module, name):
    return module._parameters[name + "_orig"]


# ---------------------------------------------------------------------- movement pruning
def movement_score_update(scores: np.ndarray, weight: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """One step of movement-pruning scores (Sanh et al. 2020, eq. 4 with a unit learning rate):
    S ← S − (∂L/∂W) ⊙ W. A weight that gradient descent pushes away from zero (the sign of −∂L/∂W equals the
    sign of W) gains score. Shapes: all three (…) → (…). Returns the new scores (inputs are not modified)."""
    # BEGIN SOLUTION
    return scores - grad * weight
    # END SOLUTION


class MovementPruning(Callback):
    """Movement pruning during fine-tuning. ``mode="hard"``: on the schedule's turns keep the top (1 − s_t)
    of the scores (global or per layer); pruned weights may come back if their score rises, as in the paper.
    ``mode="soft"``: keep every weight with score > ``threshold`` (a simplification of the paper's soft
    variant, which learns the scores with an L1 penalty). Use with ``train.fit(callbacks=[...])``."""

    def __init__(self, model, schedule: PruningSchedule | None = None, parameters=None, mode: str = "hard",
                 threshold: float = 0.0, scope: str = "global"):
        if mode not in ("hard", "soft"):
            raise ValueError(f"mode must be 'hard' or 'soft', got {mode!r}")
        if mode == "hard" and schedule is None:
            raise ValueError("hard movement pruning needs a schedule (e.g. PolynomialDecay) for its sparsity")
        if scope not in ("global", "local"):
            raise ValueError(f"scope must be 'global' or 'local', got {scope!r}")
        self.parameters = prunable_pairs(model) if parameters is None else list(parameters)
        self.schedule, self.mode, self.threshold, self.scope = schedule, mode, threshold, scope
        _prepare(self.parameters)
        self.scores = {key: np.zeros(_orig(*key).shape) for key in self.parameters}

    def on_after_backward(self, state):
        for module, name in self.parameters:
            self.scores[(module, name)] = movement_score_update(
                self.scores[(module, name)], _orig(module, name).data, dense_gradient(module, name))

    def on_step_end(self, state):
        if self.mode == "soft":
            for key in self.parameters:
                set_mask(*key, (self.scores[key] > self.threshold).astype(np.float32))
            return
        should_prune, sparsity = self.schedule(state.step)
        if not should_prune and state.step != self.schedule.end_step:
            return
        keys = self.parameters
        groups = [np.concatenate([self.scores[k].ravel() for k in keys])] if self.scope == "global" else \
            [self.scores[k].ravel() for k in keys]
        keeps = []
        for group in groups:
            keep = np.ones(group.size, dtype=bool)
            keep[smallest_k(group, round(sparsity * group.size))] = False
            keeps.append(keep)
        flat = np.concatenate(keeps)
        for key, part in zip(keys, np.split(flat, np.cumsum([self.scores[k].size for k in keys])[:-1])):
            set_mask(*key, part.reshape(self.scores[key].shape).astype(np.float32))


# ---------------------------------------------------------------------- DropConnect
class WeightDrop:
    """Forward pre-hook: in training, multiply the effective weight by a fresh Bernoulli(1 − p) mask / (1 − p)
    (Wan et al. 2013 "DropConnect"; Merity et al. 2017 "WeightDrop"); in eval mode leave it alone."""

    def __init__(self, name: str, p: float, rng: np.random.Generator):
        self.name, self.p, self.rng = name, p, rng

    def __call__(self, module, inputs):
        if module.training and self.p > 0:
            weight = getattr(module, self.name)
            keep = (self.rng.random(weight.shape) >= self.p).astype(weight.dtype) / (1 - self.p)
            setattr(module, self.name, weight * keep)


def weight_drop(module, name: str = "weight", p: float = 0.5, rng: np.random.Generator | None = None):
    """Apply DropConnect to ``module.<name>`` with drop probability ``p`` (a mask of ones is added first if the
    parameter is not pruned, so the effective weight is recomputed every forward). Returns the module."""
    if not 0 <= p < 1:
        raise ValueError(f"weight_drop: p must be in [0, 1), got {p}")
    if name + "_mask" not in module._buffers:
        identity(module, name)
    module.register_forward_pre_hook(WeightDrop(name, p, rng if rng is not None else np.random.default_rng(0)))
    return module


# ---------------------------------------------------------------------- sparse training from scratch
def erdos_renyi_densities(parameters, density: float, kernel: bool = True) -> list:
    """Per-layer densities of the Erdős–Rényi(-Kernel) distribution (Mocanu et al. 2018; Evci et al. 2020):
    density_l ∝ (Σ of the weight's dims) / (∏ of its dims) — ε(n_in + n_out)/(n_in·n_out) for a Linear — scaled
    so the overall density is ``density``; a layer that would exceed 1 is made dense and the rest rescaled."""
    shapes = [getattr(m, name + "_orig", getattr(m, name)).shape for m, name in parameters]
    sizes = np.array([int(np.prod(s)) for s in shapes], dtype=np.float64)
    raw = np.array([sum(s if kernel else s[:2]) / np.prod(s if kernel else s[:2]) for s in shapes])
    dense = np.zeros(len(shapes), dtype=bool)
    while True:
        budget = density * sizes.sum() - sizes[dense].sum()
        epsilon = budget / (raw[~dense] * sizes[~dense]).sum()
        densities = np.where(dense, 1.0, epsilon * raw)
        if (densities <= 1).all():
            return densities.tolist()
        dense |= densities > 1


class DynamicSparseTraining(Callback):
    """Shared machinery of SET and RigL: random initial masks at per-layer densities, and every ``every`` steps
    (until ``end_step``) drop the ``fraction(t)`` smallest-magnitude active weights of each layer and grow as
    many inactive ones (chosen by :meth:`grow_scores`), so each layer's density never changes."""

    def __init__(self, model, optimizer, density: float = 0.1, every: int = 100, end_step: int | None = None,
                 fraction: float = 0.3, distribution: str = "erdos_renyi", parameters=None,
                 rng: np.random.Generator | None = None):
        if not 0 < density <= 1:
            raise ValueError(f"density must be in (0, 1], got {density}")
        if every <= 0:
            raise ValueError(f"every must be > 0, got {every}")
        if distribution not in ("erdos_renyi", "uniform"):
            raise ValueError(f"distribution must be 'erdos_renyi' or 'uniform', got {distribution!r}")
        self.parameters = prunable_pairs(model) if parameters is None else list(parameters)
        self.optimizer, self.every, self.end_step, self.fraction = optimizer, every, end_step, fraction
        self.rng = rng if rng is not None else np.random.default_rng(0)
        densities = (erdos_renyi_densities(self.parameters, density) if distribution == "erdos_renyi"
                     else [density] * len(self.parameters))
        _prepare(self.parameters)
        for (module, name), d in zip(self.parameters, densities):
            size = _orig(module, name).size
            mask = np.zeros(size, dtype=np.float32)
            mask[self.rng.permutation(size)[:round(d * size)]] = 1.0
            set_mask(module, name, mask.reshape(_orig(module, name).shape))
        self.densities = densities

    def drop_fraction(self, step: int) -> float:
        return self.fraction

    def grow_scores(self, module, name: str) -> np.ndarray:
        raise NotImplementedError

    def on_after_backward(self, state):
        step = state.step
        if step == 0 or step % self.every or (self.end_step is not None and step >= self.end_step):
            return
        for module, name in self.parameters:
            self.update_layer(module, name, self.drop_fraction(step))

    def update_layer(self, module, name: str, fraction: float):
        param = _orig(module, name)
        mask = current_mask(module, name).ravel()
        active = int(mask.sum())
        # a layer can regrow only where it has room: a dense layer (Erdős–Rényi makes small layers dense) has
        # none and is left as it is, instead of dropping weights it cannot grow back
        k = min(round(fraction * active), mask.size - active)
        if k == 0:
            return
        new_mask, grown = drop_and_grow(mask, param.data.ravel(), self.grow_scores(module, name).ravel(), k)
        param.data.reshape(-1)[grown] = 0.0        # regrown connections start at exactly zero …
        reset_optimizer_state(self.optimizer, param, grown)  # … with fresh momentum / Adam moments
        set_mask(module, name, new_mask.reshape(param.shape))


def drop_and_grow(mask: np.ndarray, weight: np.ndarray, grow_scores: np.ndarray, k: int):
    """One SET/RigL connectivity update of a layer, on flat arrays: drop the ``k`` active weights of smallest
    |weight|, then grow the ``k`` inactive positions with the largest ``grow_scores`` (random for SET,
    |dense gradient| for RigL), never re-growing a position dropped in this same update.

    Shapes: mask, weight, grow_scores (n,) → (new mask (n,) float32 with the same number of ones, grown
    indices (k,)). Ties: the lower index is dropped / grown first. Inputs are not modified.
    """
    # BEGIN SOLUTION
    active = np.flatnonzero(mask)
    dropped = active[smallest_k(np.abs(weight[active]), k)]
    candidates = np.asarray(grow_scores, dtype=np.float64).copy()
    candidates[mask > 0] = -np.inf
    candidates[dropped] = -np.inf
    grown = smallest_k(-candidates, k)
    new_mask = np.array(mask, dtype=np.float32, copy=True)
    new_mask[dropped] = 0.0
    new_mask[grown] = 1.0
    return new_mask, grown
    # END SOLUTION


def reset_optimizer_state(optimizer, param, flat_indices: np.ndarray):
    """Zero every per-parameter optimizer buffer (momentum, Adam moments) at ``flat_indices`` of ``param``."""
    for value in optimizer.state.get(param, {}).values():
        if isinstance(value, np.ndarray) and value.shape == param.shape:
            value.reshape(-1)[flat_indices] = 0.0


class SET(DynamicSparseTraining):
    """Sparse Evolutionary Training (Mocanu et al. 2018): drop the ζ = ``fraction`` smallest-magnitude active
    weights of each layer every ``every`` steps, regrow as many at random."""

    def grow_scores(self, module, name):
        return self.rng.random(_orig(module, name).shape)


class RigL(DynamicSparseTraining):
    """Rigging the Lottery (Evci et al. 2020): drop by magnitude, grow where |dense gradient| is largest; the
    update fraction decays with a cosine, f(t) = α/2 · (1 + cos(π t / T_end)), α = ``fraction``."""

    def __init__(self, model, optimizer, density=0.1, every=100, end_step=1000, fraction=0.3, **kwargs):
        if end_step is None or end_step <= 0:
            raise ValueError(f"RigL needs end_step > 0 for its cosine decay, got {end_step}")
        super().__init__(model, optimizer, density, every, end_step, fraction, **kwargs)

    def drop_fraction(self, step):
        return self.fraction / 2 * (1 + math.cos(math.pi * step / self.end_step))

    def grow_scores(self, module, name):
        # connections that would reduce the loss fastest if they existed: large |dense gradient|
        return np.abs(dense_gradient(module, name))
