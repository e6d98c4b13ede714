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


def block_importance(model, data, blocks=None) -> dict:
    """How much each residual block matters, measured by removing it alone.

    ``data``: an ``(x, y)`` pair of arrays (a validation batch). For each block name (default: all residual
    blocks) returns ``{"accuracy_drop": acc(model) − acc(without block), "output_change": ‖f(x) − f'(x)‖ /
    ‖f(x)‖}`` where f are the logits (Frobenius norms). Higher means more important. The model's mode is kept.
    """
    x, y = data
    blocks = residual_blocks(model) if blocks is None else list(blocks)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            logits = model(x).data
            base = accuracy(logits, y)
            scores = {}
            for name in blocks:
                dropped = drop_layers(model, [name]).eval()
                out = dropped(x).data
                scores[name] = {"accuracy_drop": base - accuracy(out, y),
                                "output_change": float(np.linalg.norm(out - logits) / np.linalg.norm(logits))}
    finally:
        model.train(was_training)
    return scores
