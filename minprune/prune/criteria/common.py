"""Shared plumbing of the criteria: which layers are scored, running data through a model, capturing tensors.

Conventions of every criterion:

- Scores are a dict ``{(module, "weight"): array}`` with the weight's shape — higher means *keep* — so they plug
  straight into ``importance_scores=`` of ``l1_unstructured``, ``ln_structured``, ``global_unstructured`` …
- Data-driven criteria take ``data``: an iterable of ``(x, y)`` batches (a ``DataLoader``, a list, or one pair).
- The model runs in eval mode (BatchNorm uses its running statistics and is not updated, Dropout is off) and is
  left exactly as it was: parameters, gradients and mode.
- On a pruned layer the gradient reaches ``weight_orig`` through the mask, so pruned entries score 0 and stay
  pruned when a criterion is used again.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ... import functional as F
from ... import nn
from ...tensor import Tensor, no_grad


def weight_layers(model, types=(nn.Linear, nn.Conv2d)) -> list:
    """The modules of ``model`` that carry a prunable ``weight`` (Linear and Conv2d by default), in order."""
    return [m for m in model.modules() if isinstance(m, types)]


def weight_param(module):
    """The trainable Parameter behind ``module.weight``: ``weight_orig`` when the layer is pruned."""
    # not `get("weight_orig") or ...`: a Tensor's truth value is its length, False for a layer with 0 outputs
    return module._parameters["weight_orig" if "weight_orig" in module._parameters else "weight"]


def weight_value(module) -> np.ndarray:
    """The effective weight ``orig · mask`` (or the plain weight) as an array, fresh even between forwards."""
    mask = module._buffers.get("weight_mask")
    return weight_param(module).data if mask is None else weight_param(module).data * mask


def batches(data):
    """Normalise ``data`` to a list of ``(x, y)`` batches; a single ``(x, y)`` pair of arrays is one batch.

    Raises ValueError for no data, no batches, an item that is not an ``(x, y)`` pair, or a batch that is empty
    or whose x and y disagree on the number of samples (a mean over no samples would be NaN, and a label-free
    criterion would not notice mismatched labels). A batch whose x does not fit the model is rejected by the
    first layer it reaches, whose error names that layer and both shapes.
    """
    if data is None:
        raise ValueError("this criterion needs data: an iterable of (x, y) batches, e.g. a DataLoader")
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray) and np.ndim(data[1]) >= 1:
        data = [data]
    result = list(data)
    if not result:
        raise ValueError("this criterion got no batches of data")
    for i, batch in enumerate(result):
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(f"data must yield (x, y) pairs, got {type(batch).__name__} as batch {i}")
        x_shape, y_shape = (item.shape if isinstance(item, Tensor) else np.shape(item) for item in batch)
        if not x_shape or not y_shape or x_shape[0] != y_shape[0] or x_shape[0] == 0:
            raise ValueError(f"batch {i}: x and y must hold the same, non-zero number of samples (first axis); "
                             f"got x of shape {x_shape} and y of shape {y_shape}")
    return result


@contextlib.contextmanager
def evaluation_mode(model):
    """Run ``model`` in eval mode and restore its mode and its parameters' gradients afterwards."""
    was_training = model.training
    saved = {id(p): p.grad for p in model.parameters()}
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
        for p in model.parameters():
            p.grad = saved.get(id(p))


def batch_gradients(model, data, loss_fn=F.cross_entropy, layers=None):
    """Yield, for each batch, ``{module: dL/dW}`` for each layer's weight Parameter (zeros where no gradient).

    One forward and backward per batch, in eval mode; gradients and mode are restored at the end.
    """
    layers = weight_layers(model) if layers is None else layers
    with evaluation_mode(model):
        for x, y in batches(data):
            model.zero_grad()
            loss_fn(model(x), y).backward()
            yield {m: np.zeros_like(weight_param(m).data) if weight_param(m).grad is None else weight_param(m).grad
                   for m in layers}


def gradients(model, data, loss_fn=F.cross_entropy, layers=None) -> dict:
    """Mean gradient of the loss over the batches of ``data``, per layer: ``{module: (out, in, …)}``.

    Averaged over batches so the result does not grow with their number. Cost: one training step per batch,
    without the update.
    """
    per_batch = list(batch_gradients(model, data, loss_fn, layers))
    return {m: sum(g[m] for g in per_batch) / len(per_batch) for m in per_batch[0]}


def capture(model, data, layers, what: str = "input") -> dict:
    """Run ``data`` through ``model`` (eval, no graph) and return, for each layer, the concatenation over all
    batches of its ``"input"`` or ``"output"`` arrays (first axis = samples)."""
    if what not in ("input", "output"):
        raise ValueError(f"what must be 'input' or 'output', got {what!r}")
    data = batches(data)
    seen = {m: [] for m in layers}

    def record(module, inputs, output):
        seen[module].append((inputs[0] if what == "input" else output).data)

    handles = [m.register_forward_hook(record) for m in layers]
    try:
        with evaluation_mode(model), no_grad():
            for x, _ in data:
                model(x)
    finally:
        for h in handles:
            h.remove()
    return {m: np.concatenate(arrays) for m, arrays in seen.items()}


def broadcast_channels(channel_scores: np.ndarray, weight_shape: tuple, dim: int = 0) -> np.ndarray:
    """Spread per-channel scores (C,) over a weight of ``weight_shape`` along ``dim`` (DESIGN §3 convention), so
    ``ln_structured(..., importance_scores=...)`` reduces them back to the same channel ordering."""
    shape = [1] * len(weight_shape)
    shape[dim] = -1
    return np.broadcast_to(np.reshape(channel_scores, shape), weight_shape).astype(np.float64)


def channel_activations(outputs: np.ndarray, activation=None) -> np.ndarray:
    """Layer outputs (N, C) or (N, C, H, W) → samples × channels (N·H·W, C) after the activation (ReLU default);
    for convolutions every spatial position counts as a sample of its channel."""
    values = np.maximum(outputs, 0) if activation is None else activation(outputs)
    if values.ndim == 2:
        return values
    return np.moveaxis(values, 1, -1).reshape(-1, values.shape[1])
