"""Activation-aware criteria: weigh each weight by how strongly its *input* is actually used.

Magnitude alone ignores the data: a small weight on a huge input feature matters more than a large weight
on a feature that is always ~0. In large language models a few input features have outlier magnitudes,
which is why Wanda (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language Models")
scores |W_ij| · ‖X_j‖₂ and compares weights only *within each output row*.
"""
from __future__ import annotations

import numpy as np

from ... import nn
from .common import broadcast_channels, capture, channel_activations, weight_layers, weight_value


def input_norms(inputs: np.ndarray) -> np.ndarray:
    """‖X_j‖₂ of every input feature j over all samples (and tokens): inputs (N, …, d) → (d,)."""
    x = inputs.reshape(-1, inputs.shape[-1]).astype(np.float64)
    return np.sqrt((x ** 2).sum(axis=0))


def wanda_scores(weight: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Wanda importance S_ij = |W_ij| · ‖X_j‖₂. Shapes: weight (out, in), norms (in,) → (out, in). Compare
    within each row (``prune.row_mask(scores, sparsity)``; ``prune.wanda_mask`` does it all from the inputs):
    rows are outputs, each keeps its own best inputs."""
    return np.abs(weight) * norms[None, :]


def wanda(model, data) -> dict:
    """:func:`wanda_scores` for every Linear of ``model``, the input norms measured on ``data``."""
    layers = weight_layers(model, (nn.Linear,))
    inputs = capture(model, data, layers, "input")
    return {(m, "weight"): wanda_scores(weight_value(m), input_norms(inputs[m])) for m in layers}


def activation_mean(model, data, activation=None) -> dict:
    """Mean post-ReLU activation of each output channel (a neuron that is rarely and weakly active is
    prunable; Hu et al. 2016 use the zero-fraction, see ``information.apoz``), broadcast over the weight."""
    layers = weight_layers(model)
    outputs = capture(model, data, layers, "output")
    return {(m, "weight"): broadcast_channels(channel_activations(outputs[m], activation).mean(axis=0),
                                              weight_value(m).shape, 0) for m in layers}
