"""Layer pruning: remove whole layers or residual blocks (the seed's §5 "drop full residual blocks in ResNet").

A residual block computes ``x + F(x)``. If F(x) is small, the block barely changes its input, and replacing
it by the identity costs little accuracy while saving all of its compute (Veit et al. 2016 showed ResNets
behave like ensembles of shallow paths and survive losing single blocks). :func:`block_importance` measures
how much each block matters; :func:`drop_layers` removes the ones you choose.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import nn
from ..tensor import no_grad
from ..train import accuracy


def preserves_shape(module) -> bool:
    """Whether ``module`` maps its input to an output of the same shape, so ``Identity`` can replace it."""
    if hasattr(module, "preserves_shape"):
        return module.preserves_shape()
    if isinstance(module, nn.Linear):
        return module.in_features == module.out_features
    if isinstance(module, nn.Conv2d):
        k, p = module.kernel_size, module.padding
        return (module.in_channels == module.out_channels and module.stride == (1, 1)
                and all(2 * pi == ki - 1 for ki, pi in zip(k, p)))
    if isinstance(module, nn.Sequential):
        return all(preserves_shape(child) for child in module.children())
    return isinstance(module, (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Dropout, nn.Identity,
                               nn.BatchNorm1d, nn.BatchNorm2d))


def residual_blocks(model) -> list:
    """Dotted names of the residual blocks of ``model`` (modules with a ``preserves_shape`` method)."""
    return [name for name, m in model.named_modules() if name and hasattr(m, "preserves_shape")]


def _replace(model, name: str, new_module):
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    parent._modules[child] = new_module


def drop_layers(model, names):
    """A copy of ``model`` in which each named module is replaced by ``nn.Identity`` (``model`` is untouched).

    Every name must exist (``model.named_modules()``) and the module must preserve its input's shape
    (a residual block without a projection shortcut, a square Linear, …); otherwise a ValueError names it.
    """
    names = [names] if isinstance(names, str) else list(names)
    modules = dict(model.named_modules())
    for name in names:
        if name not in modules or not name:
            raise ValueError(f"drop_layers: no module named {name!r}; modules: {[n for n in modules if n]}")
        if not preserves_shape(modules[name]):
            raise ValueError(f"drop_layers: {name!r} ({type(modules[name]).__name__}) changes the shape of its "
                             "input (a projection shortcut or a width change), so an identity cannot replace it")
    new = copy.deepcopy(model)
    for name in names:
        _replace(new, name, nn.Identity())
    return new


def angular_distance(inputs: np.ndarray, outputs: np.ndarray) -> float:
    """Mean angular distance between a block's input and output representations (Gromov et al. 2024, "The
    Unreasonable Ineffectiveness of the Deeper Layers"): for each sample, flatten both, then

        d = arccos( ⟨x_in, x_out⟩ / (‖x_in‖ ‖x_out‖) ) / π   ∈ [0, 1],

    and average over samples. A block whose output points the same way as its input (d ≈ 0) changes little and
    is the first to drop. Shapes: inputs and outputs (N, …) of equal shape → a float. A zero vector counts as
    distance 0.5 (orthogonal to everything). Cost O(N · features).
    """
    # BEGIN SOLUTION
    a = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    b = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)
    return float(np.mean(np.arccos(np.clip(cosine, -1.0, 1.0)) / np.pi))
    # END SOLUTION


def block_importance(model, data, blocks=None) -> dict:
    """How much each residual block matters, measured by removing it alone.

    ``data``: an ``(x, y)`` pair of arrays (a validation batch). For each block name (default: every residual
    block that an identity can replace — not one with a projection shortcut) returns ``{"accuracy_drop":
    acc(model) − acc(without block), "output_change": ‖f(x) − f'(x)‖ / ‖f(x)‖, "angular":
    angular_distance(block input, block output)}`` where f are the logits (Frobenius norms). Higher means more
    important. The model's mode is kept. An unknown name, or a block that changes its input's shape, raises
    ValueError.
    """
    x, y = data
    modules = dict(model.named_modules())
    blocks = ([name for name in residual_blocks(model) if preserves_shape(modules[name])] if blocks is None
              else list(blocks))
    unknown = [name for name in blocks if name not in modules or not name]
    if unknown:
        raise ValueError(f"block_importance: no module named {unknown}; residual blocks: {residual_blocks(model)}")
    seen = {}

    def record(module, inputs, output):
        seen[id(module)] = (inputs[0].data, output.data)

    handles = [modules[name].register_forward_hook(record) for name in blocks]
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            logits = model(x).data
            for h in handles:
                h.remove()
            base = _accuracy(logits, y)
            scores = {}
            for name in blocks:
                out = drop_layers(model, [name]).eval()(x).data
                scores[name] = {"accuracy_drop": base - _accuracy(out, y),
                                "output_change": float(np.linalg.norm(out - logits) / np.linalg.norm(logits)),
                                "angular": angular_distance(*seen[id(modules[name])])}
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return scores


def _accuracy(logits: np.ndarray, y) -> float:
    """Top-1 accuracy of class logits (N, C) against (N,), or per token of sequence logits (N, L, V) against
    (N, L) (a language model's next-token accuracy): every position counts as a sample."""
    return accuracy(logits.reshape(-1, logits.shape[-1]), np.reshape(y, -1))


DEPTH_CRITERIA = {"accuracy": "accuracy_drop", "output_change": "output_change", "angular": "angular"}


def depth_prune(model, data, n_blocks: int, criterion: str = "angular"):
    """Remove the ``n_blocks`` least important residual blocks; return ``(new_model, report)``.

    ``criterion``: "accuracy" (accuracy drop when removed alone), "output_change" (relative change of the
    logits) or "angular" (:func:`angular_distance` of the block's input and output — one forward pass, the
    cheap data criterion). Only blocks that preserve their input's shape can go. ``model`` is untouched.
    """
    if criterion not in DEPTH_CRITERIA:
        raise ValueError(f"criterion must be one of {sorted(DEPTH_CRITERIA)}, got {criterion!r}")
    candidates = [name for name in residual_blocks(model) if preserves_shape(model.get_submodule(name))]
    if not 0 <= n_blocks <= len(candidates):
        raise ValueError(f"n_blocks must be in [0, {len(candidates)}] (removable blocks: {candidates}), "
                         f"got {n_blocks}")
    scores = block_importance(model, data, candidates)
    key = DEPTH_CRITERIA[criterion]
    ranked = sorted(candidates, key=lambda name: scores[name][key])  # stable: ties keep model order
    dropped = ranked[:n_blocks]
    return drop_layers(model, dropped), {"dropped": dropped, "scores": scores, "criterion": criterion}
