"""Compaction: turn structured zeros into a physically smaller dense model with the same outputs.

Masking a neuron only zeroes numbers; the matrices keep their size and the model its speed. ``compact(model)``
performs the surgery. Between two weighted layers P → (ReLU, BatchNorm, pooling, Flatten, Dropout …) → Q, a
channel c of P's output can go when

- Q ignores it: Q's weights reading channel c are all zero (channel pruned on Q's dim 1) — then P's row c
  goes too; or
- P never computes anything there: P's weight row c is all zero (pruned on P's dim 0). The channel then
  carries a *constant* v_c = act(b_c) (the in-between layers applied to P's bias). Its contribution to Q is
  the constant Σ_block W_Q[:, c] · v_c, which is added to Q's bias before the channel is cut — nothing lost.

BatchNorm layers in between are cut with their running statistics; Flatten maps channel c to its block of
h·w features. The first layer's inputs and the last layer's outputs are never removed.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import nn
from ..nn.module import Parameter
from ..tensor import no_grad
from .base import BasePruningMethod, remove

_PASS_THROUGH = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.BatchNorm1d, nn.BatchNorm2d, nn.MaxPool2d,
                 nn.AvgPool2d, nn.Dropout, nn.Identity, nn.Flatten)
# a constant map stays that constant (AvgPool2d is a MaxPool2d subclass; with padding it is not, see `padded`)
_CONSTANT_PRESERVING = (nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, nn.Identity, nn.Flatten)


def compact_pair(w1: np.ndarray, b1: np.ndarray | None, w2: np.ndarray, b2: np.ndarray | None,
                 activation=None, can_fold: bool = True):
    """Remove the dead channels between two layers; return ``(keep, w1[keep], b1[keep], w2[:, keep], b2)``.

    Shapes: w1 (C, …) the producer's weight (row c makes channel c), b1 (C,) or None, w2 (O, C, …) the
    consumer's weight (column c reads channel c; for a Linear→ReLU→Linear pair simply (O, C)), b2 (O,) or None.
    ``activation`` maps the producer's constant output (its bias) to the value the consumer sees (a function
    of a (C,) array; None means ReLU). Channel c is removed when w2[:, c] is all zero (nobody reads it), or when w1[c] is all zero and
    ``can_fold``: then its constant activation(b1[c]) times Σ w2[:, c, …] is added to b2 (created if None).
    A dead channel whose constant is exactly 0 is removed even without ``can_fold`` (there is nothing to fold,
    and a zero-padded consumer sees zeros everywhere). ``keep`` is a boolean (C,) array. Nothing is modified
    in place.
    """
    # BEGIN SOLUTION
    channels = w1.shape[0]
    unread = np.all(w2.reshape(w2.shape[0], channels, -1) == 0, axis=(0, 2))
    dead = np.all(w1.reshape(channels, -1) == 0, axis=1)
    bias1 = np.zeros(channels, dtype=w1.dtype) if b1 is None else b1
    value = np.maximum(bias1, 0) if activation is None else activation(bias1)  # None: ReLU
    folded = dead & ~unread & (can_fold | (value == 0))
    keep = ~(unread | folded)
    constant = value * folded
    contribution = w2.reshape(w2.shape[0], channels, -1).sum(axis=2) @ constant
    new_b2 = None if b2 is None and not np.any(contribution) else (0 if b2 is None else b2) + contribution
    new_b1 = None if b1 is None else b1[keep]
    return keep, w1[keep], new_b1, w2[:, keep], new_b2
    # END SOLUTION


def _constant_through(layers, values: np.ndarray) -> np.ndarray:
    """Pass per-channel constants (C,) through elementwise layers and BatchNorm.

    BatchNorm always uses its running statistics (the deployed, eval-mode function), whatever the model's mode:
    in training mode it would normalise by the statistics of this single fake sample and update its running
    statistics with it.
    """
    x = values.reshape(1, -1)
    with no_grad():
        for layer in layers:
            if isinstance(layer, _CONSTANT_PRESERVING):
                continue
            was_training = layer.training
            layer.eval()
            try:
                if isinstance(layer, nn.BatchNorm2d):
                    x = layer(x.reshape(1, -1, 1, 1)).data.reshape(1, -1)
                else:
                    x = layer(x).data
            finally:
                layer.train(was_training)
    return x.reshape(-1)


def _cut_batchnorm(bn, keep):
    bn.num_features = int(keep.sum())
    for name in ("weight", "bias"):
        if bn._parameters.get(name) is not None:
            bn._parameters[name] = Parameter(bn._parameters[name].data[keep])
    for name in ("running_mean", "running_var"):
        if bn._buffers.get(name) is not None:
            bn._buffers[name] = bn._buffers[name][keep]


def _set_linear_or_conv(layer, weight, bias, keep_in_features=None):
    layer.weight = Parameter(np.ascontiguousarray(weight))
    if bias is not None:
        layer.bias = Parameter(np.asarray(bias, dtype=weight.dtype))
    if isinstance(layer, nn.Linear):
        layer.out_features, layer.in_features = weight.shape
    else:
        layer.out_channels, layer.in_channels = weight.shape[0], weight.shape[1] * layer.groups


def count_parameters(model) -> int:
    return int(sum(p.size for p in model.parameters()))


def compact(model, can_fold: bool = True):
    """A new, smaller dense model with the same outputs as ``model`` (the masked one); returns ``(model, report)``.

    Works on sequential networks (nested ``Sequential``s) of Linear, Conv2d (groups=1), BatchNorm, ReLU and
    other elementwise activations, pooling, Flatten and Dropout. Pruning is made permanent in the copy first;
    ``model`` itself is not modified. The report gives parameter counts and every layer's width before/after.
    A removed channel's constant output is folded into the next layer's bias, except into a padded Conv2d
    (where borders would differ) — such channels stay, unless their constant is exactly 0 (a filter pruned
    together with its bias, followed by ReLU).
    """
    new = copy.deepcopy(model)
    for module in new.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, BasePruningMethod):
                remove(module, hook._tensor_name)
    leaves = list(nn.leaf_layers(new))
    for name, layer in leaves:
        if not isinstance(layer, _PASS_THROUGH + (nn.Linear, nn.Conv2d)):
            raise TypeError(f"compact: layer {name!r} ({type(layer).__name__}) is not supported; compact() handles "
                            "sequential nets of Linear, Conv2d, BatchNorm, activations, pooling, Flatten, Dropout")
        if isinstance(layer, nn.Conv2d) and layer.groups != 1:
            raise TypeError(f"compact: grouped convolution {name!r} is not supported by the sequential compactor")
    producers = [i for i, (_, layer) in enumerate(leaves) if isinstance(layer, (nn.Linear, nn.Conv2d))]
    widths_before = {leaves[i][0]: leaves[i][1].weight.shape[0] for i in producers}
    params_before = count_parameters(model)
    for i, j in zip(producers[:-1], producers[1:]):
        p, q, between = leaves[i][1], leaves[j][1], [layer for _, layer in leaves[i + 1:j]]
        channels = p.weight.shape[0]
        w2 = q.weight.data
        if isinstance(q, nn.Linear):
            if w2.shape[1] % channels:
                raise ValueError(f"compact: {leaves[j][0]} has {w2.shape[1]} inputs, not a multiple of the "
                                 f"{channels} channels of {leaves[i][0]}")
            w2 = w2.reshape(w2.shape[0], channels, -1)   # Flatten: channel c → its block of h·w features
        padded = isinstance(q, nn.Conv2d) and q.padding != (0, 0) or any(
            isinstance(layer, nn.AvgPool2d) and layer.padding not in (0, (0, 0)) for layer in between)
        keep, w1, b1, w2, b2 = compact_pair(
            p.weight.data, None if p.bias is None else p.bias.data, w2, None if q.bias is None else q.bias.data,
            activation=lambda v: _constant_through(between, v), can_fold=can_fold and not padded)
        _set_linear_or_conv(p, w1, b1)
        _set_linear_or_conv(q, w2.reshape(w2.shape[0], -1) if isinstance(q, nn.Linear) else w2, b2)
        for layer in between:
            if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                _cut_batchnorm(layer, keep)
    report = {
        "parameters_before": params_before,
        "parameters_after": count_parameters(new),
        "widths": {name: (widths_before[name], leaves[i][1].weight.shape[0]) for i, (name, _) in
                   ((i, leaves[i]) for i in producers)},
    }
    return new, report
