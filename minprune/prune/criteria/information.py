"""Information-theoretic criteria (the seed §6 "information-theoretic" row): a neuron is worth keeping if its
activation *carries information* — about anything (entropy), about the label (mutual information), or at
least is not almost always zero (APoZ).

Every function scores the output channels of each Linear/Conv2d from its activations on ``data`` (the layer's
output after ReLU; a convolution channel's every spatial position counts as a sample) and broadcasts the
channel score over the layer's weight, dim 0. Estimates use histograms with ``bins`` equal-width bins over
each neuron's own range, computed for all neurons at once with one ``np.bincount``.
"""
from __future__ import annotations

import numpy as np

from .common import batches, broadcast_channels, capture, channel_activations, weight_layers, weight_value


def _binned(values: np.ndarray, bins: int) -> np.ndarray:
    """Bin index (0 … bins−1) of every value, per column, over that column's [min, max]."""
    low, high = values.min(axis=0), values.max(axis=0)
    width = np.where(high > low, (high - low) / bins, 1.0)
    return np.clip(((values - low) / width).astype(np.int64), 0, bins - 1)


def _entropy(counts: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats of (unnormalised) histograms along ``axis``: −Σ p log p."""
    p = counts / np.maximum(counts.sum(axis=axis, keepdims=True), 1)
    return -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0.0)).sum(axis=axis)


def entropy_scores(activations: np.ndarray, bins: int = 32) -> np.ndarray:
    """Histogram entropy H(A_c) (nats) of each column c of ``activations`` (N samples × C neurons).

    A neuron that is constant (dead) has entropy 0. Cost O(N·C) — one bincount over (neuron, bin) pairs.
    """
    n, c = activations.shape
    codes = _binned(activations, bins) + bins * np.arange(c)
    counts = np.bincount(codes.ravel(), minlength=c * bins).reshape(c, bins)
    return _entropy(counts)


def mutual_information_scores(activations: np.ndarray, labels: np.ndarray, bins: int = 32,
                              classes: int | None = None) -> np.ndarray:
    """Mutual information I(A_c; Y) = H(A_c) + H(Y) − H(A_c, Y) (nats) of each neuron's binned activation
    with the integer label. Shapes: activations (N, C), labels (N,) → (C,).

    An activation independent of the label gives ≈ 0 (plus a small positive bias of the histogram estimator,
    about (bins−1)(classes−1)/(2N)); a copy of the label gives H(Y). Cost O(N·C).
    """
    n, c = activations.shape
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match the activations, got {labels.shape}")
    classes = int(labels.max()) + 1 if classes is None else classes
    codes = _binned(activations, bins)
    joint_codes = (np.arange(c) * bins + codes) * classes + labels[:, None]
    joint = np.bincount(joint_codes.ravel(), minlength=c * bins * classes).reshape(c, bins, classes)
    h_a = _entropy(joint.sum(axis=2))
    h_y = _entropy(np.bincount(labels, minlength=classes)[None, :])
    h_ay = _entropy(joint.reshape(c, -1))
    return np.maximum(h_a + h_y - h_ay, 0.0)


def apoz_scores(activations: np.ndarray) -> np.ndarray:
    """APoZ, the Average Percentage of Zeros of each neuron's post-ReLU activation (Hu et al. 2016, "Network
    Trimming"). High APoZ = rarely active = prunable. Shapes (N, C) → (C,) in [0, 1]."""
    return (activations == 0).mean(axis=0)


def _per_layer(model, data, activation, score_fn) -> dict:
    layers = weight_layers(model)
    outputs = capture(model, data, layers, "output")
    scores = {}
    for m in layers:
        acts = channel_activations(outputs[m], activation)
        scores[(m, "weight")] = broadcast_channels(score_fn(acts), weight_value(m).shape, 0)
    return scores


def activation_entropy(model, data, bins: int = 32, activation=None) -> dict:
    """:func:`entropy_scores` of every layer's output channels, broadcast over its weight."""
    return _per_layer(model, data, activation, lambda a: entropy_scores(a, bins))


def mutual_information(model, data, bins: int = 32, activation=None) -> dict:
    """:func:`mutual_information_scores` of every layer's output channels with the labels of ``data``.

    For a convolution, each spatial position is paired with its image's label."""
    data = batches(data)
    labels = np.concatenate([np.asarray(y) for _, y in data])
    classes = int(labels.max()) + 1
    layers = weight_layers(model)
    outputs = capture(model, data, layers, "output")
    scores = {}
    for m in layers:
        acts = channel_activations(outputs[m], activation)
        positions = len(acts) // len(labels)
        mi = mutual_information_scores(acts, np.repeat(labels, positions), bins, classes)
        scores[(m, "weight")] = broadcast_channels(mi, weight_value(m).shape, 0)
    return scores


def apoz(model, data, activation=None) -> dict:
    """Importance 1 − APoZ of every layer's output channels (higher = more often active = keep)."""
    return _per_layer(model, data, activation, lambda a: 1.0 - apoz_scores(a))
