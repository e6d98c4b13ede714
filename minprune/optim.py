"""Optimizers and learning-rate schedulers, with the update rules exactly as PyTorch documents them.

Every optimizer updates ``p.data`` in place, so the Parameter objects a model holds (and that pruning moves to
``weight_orig``) stay the ones being trained. ``optimizer.state[p]`` holds each parameter's buffers
(momentum, Adam moments) as in PyTorch, so dynamic-sparsity methods can reset them for regrown weights.

Why pruned weights stay exactly zero: pruning multiplies ``weight_orig`` by a 0/1 mask in every forward pass,
so the effective weight of a pruned entry is ``orig × 0 = 0`` whatever the optimizer does to ``orig``
(momentum and weight decay may move ``orig``; the mask still zeroes it).
"""
from __future__ import annotations

import math

import numpy as np

from .tensor import Tensor


class Optimizer:
    """Base class: holds parameter groups (dicts with "params" and hyper-parameters) and per-parameter state."""

    def __init__(self, params, defaults: dict):
        if isinstance(params, Tensor):
            # list(tensor) would silently iterate its rows, which are not the parameter
            raise TypeError("params must be an iterable of Parameters (e.g. model.parameters()) or of dicts, "
                            f"got a single {type(params).__name__} of shape {params.shape}; wrap it in a list")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups = [{**defaults, **g, "params": list(g["params"])} for g in groups]
        self.state = {}
        self.step_count = 0  # optimizer steps taken inside train.fit (schedules read it)

    def zero_grad(self):
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _params_with_grad(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield group, p, self.state.setdefault(p, {})

    def step(self):
        raise NotImplementedError


def _check(name: str, value: float, low: float = 0.0):
    if not value >= low:
        raise ValueError(f"invalid {name}: {value} (expected >= {low})")


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (PyTorch's formulation).

    g ← ∇θ + λθ (weight decay); with momentum μ: b ← g at the first step, else b ← μb + (1 − τ)g (τ dampening);
    g ← g + μb if nesterov else b; θ ← θ − lr·g.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        for name, v in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            _check(name, v)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum requires a momentum > 0 and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self):
        for group, p, state in self._params_with_grad():
            sgd_step(p.data, p.grad, state, **{k: v for k, v in group.items() if k != "params"})


def sgd_step(param: np.ndarray, grad: np.ndarray, state: dict, lr: float, momentum: float = 0.0,
             dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
    """One SGD update of ``param`` in place; ``state["momentum_buffer"]`` holds b between steps.

    d = grad + weight_decay·param;  b = d (first step) or momentum·b + (1 − dampening)·d;
    d = d + momentum·b (nesterov) or b;  param ← param − lr·d.
    """
    # BEGIN SOLUTION
    d = grad + weight_decay * param if weight_decay else grad
    if momentum:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = np.array(d, copy=True)
        else:
            buf *= momentum
            buf += (1 - dampening) * d if dampening else d  # no temporary when there is no dampening
        d = d + momentum * buf if nesterov else buf
    param -= lr * d
    # END SOLUTION


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), as PyTorch: g ← ∇θ + λθ; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    θ ← θ − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        _check("lr", lr)
        _check("eps", eps)
        _check("weight_decay", weight_decay)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid betas: {betas} (each must be in [0, 1))")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def step(self):
        for group, p, state in self._params_with_grad():
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            g = p.grad
            if wd and self.decoupled:
                p.data *= 1 - lr * wd
            elif wd:
                g = g + wd * p.data
            if "step" not in state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
            state["step"] += 1
            m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            denom = np.sqrt(v / (1 - b2 ** t)) + eps
            p.data -= (lr / (1 - b1 ** t)) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): θ ← θ(1 − lr·λ) before the Adam step."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


class LRScheduler:
    """Sets ``group["lr"]`` from the epoch counter; call ``step()`` once per epoch (as PyTorch)."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0

    def get_lr(self, base_lr: float) -> float:
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.get_lr(base)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr = base · γ^⌊epoch / step_size⌋."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        if step_size <= 0:
            raise ValueError(f"StepLR: step_size must be positive, got {step_size}")
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def get_lr(self, base_lr):
        return base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base − η_min)(1 + cos(π·epoch / T_max)) / 2 (Loshchilov & Hutter 2017, no restarts)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def get_lr(self, base_lr):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
