"""Gradient-based criteria: how much the loss reacts to a weight (the seed §6 "gradient-based"), and the
criteria for pruning *at initialisation* (the seed §15: SNIP, GraSP; plus SynFlow).

First-order Taylor: removing w changes the loss by ΔL ≈ −g·w (g = ∂L/∂w), so |g·w| measures a weight's
effect (Molchanov et al. 2017, 2019). SNIP applies it at initialisation, on one batch, normalised over the
network. GraSP looks at the *gradient flow* instead (a second-order term), and SynFlow needs no data at all.
"""
from __future__ import annotations

import copy

import numpy as np

from ... import functional as F
from ...tensor import Tensor
from ..base import nparams_to_prune, smallest_k
from ..unstructured import custom_from_mask
from .common import batch_gradients, batches, broadcast_channels, gradients, weight_layers, weight_value
from .hessian import hvp


def gradient(model, data, loss_fn=F.cross_entropy) -> dict:
    """Mean absolute gradient over the batches of ``data``: (1/B) Σ_b |∂L_b/∂w|. Cost: B training passes."""
    per_batch = list(batch_gradients(model, data, loss_fn))
    return {(m, "weight"): sum(np.abs(g[m]) for g in per_batch) / len(per_batch) for m in per_batch[0]}


def taylor_scores(weight: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """First-order Taylor importance of each weight: |w · ∂L/∂w| (Molchanov et al. 2017, "Pruning
    Convolutional Neural Networks for Resource Efficient Inference"): the first-order estimate of the loss
    change when w is set to 0. Shapes: weight and grad (…) → (…). Cost O(size).
    """
    # BEGIN SOLUTION
    return np.abs(np.asarray(weight) * np.asarray(grad))
    # END SOLUTION


def taylor(model, data, loss_fn=F.cross_entropy) -> dict:
    """:func:`taylor_scores` with the mean gradient over ``data``, for every Linear/Conv2d weight."""
    grads = gradients(model, data, loss_fn)
    return {(m, "weight"): taylor_scores(weight_value(m), g) for m, g in grads.items()}


def taylor_filter(model, data, loss_fn=F.cross_entropy) -> dict:
    """Per-filter Taylor importance (Molchanov et al. 2019, "Importance Estimation for Neural Network
    Pruning"): I_c = mean over batches of (Σ_{w in filter c} g_w · w)², broadcast over the filter's weights."""
    per_batch = list(batch_gradients(model, data, loss_fn))
    scores = {}
    for m in per_batch[0]:
        w = weight_value(m)
        filters = [(g[m] * w).reshape(w.shape[0], -1).sum(axis=1) ** 2 for g in per_batch]
        scores[(m, "weight")] = broadcast_channels(np.mean(filters, axis=0), w.shape, 0)
    return scores


def snip(model, data, loss_fn=F.cross_entropy) -> dict:
    """SNIP connection sensitivity (Lee et al. 2019, "SNIP: Single-shot Network Pruning based on Connection
    Sensitivity"): s = |g ⊙ w| / Σ_all |g ⊙ w|, from ONE batch, meant for a freshly initialised network.
    The normalisation over the whole network makes scores of all layers comparable (use global pruning)."""
    x, y = batches(data)[0]
    raw = taylor(model, [(x, y)], loss_fn)
    total = sum(float(s.sum()) for s in raw.values())
    return {key: s / total if total > 0 else s for key, s in raw.items()}


def grasp(model, data, loss_fn=F.cross_entropy, eps: float = 1e-3) -> dict:
    """GraSP (Wang et al. 2020, "Picking Winning Tickets Before Training by Preserving Gradient Flow").

    The paper's score is S = −θ ⊙ Hg (g the gradient, H the Hessian) and it removes the weights with the
    *largest* S — those whose removal reduces gradient flow gᵀg least (or even increases it). minprune's
    importance is higher-is-keep, so it ranks by θ ⊙ Hg = −S. Hg comes from :func:`~.hessian.hvp` (finite
    differences of gradients). Cost: 3 gradient passes over ``data``.

    θ ⊙ Hg is signed, but the pruning functions rank |scores| (as PyTorch), so where it has negative entries
    the returned scores are θ ⊙ Hg − min(θ ⊙ Hg), the minimum taken over the whole network: non-negative, in
    the same order within and across layers, ready for ``global_unstructured``. Weights that are exactly 0
    (pruned) score 0: removing them changes nothing.
    """
    data = batches(data)
    grads = gradients(model, data, loss_fn)
    hg = hvp(model, data, grads, loss_fn, eps)
    raw = {m: weight_value(m) * hg[m] for m in grads}
    lowest = min([0.0] + [float(s.min()) for s in raw.values() if s.size])
    return {(m, "weight"): np.where(weight_value(m) != 0, s - lowest, 0.0) for m, s in raw.items()}


def synflow(model, input_shape: tuple, masks: dict | None = None) -> dict:
    """SynFlow (Tanaka et al. 2020, "Pruning neural networks without any data by iteratively conserving
    synaptic flow"): R = 1ᵀ (∏_l |W_l|) 1, the output of the network with every parameter replaced by its
    absolute value, for an all-ones input; score = θ ⊙ ∂R/∂θ (θ = |w|, so scores are ≥ 0).

    Data-free. Computed on a float64 copy in eval mode (the products overflow float32 in deep nets); the model
    is untouched. For a chain of bias-free linear layers the per-layer score sums all equal R (conservation).
    ``input_shape`` excludes the batch axis, e.g. (1, 28, 28). ``masks`` (``{module: 0/1 array}``) zero more
    weights in the probe, as :func:`synflow_prune` does between rounds.
    """
    probe = copy.deepcopy(model).double().eval()
    for p in probe.parameters():
        p.data = np.abs(p.data)
    for original, layer in zip(weight_layers(model), weight_layers(probe)):
        if masks is not None and original in masks:
            param = layer._parameters["weight_orig" if "weight_orig" in layer._parameters else "weight"]
            param.data = param.data * masks[original]
    for module in probe.modules():
        for name, buffer in module._buffers.items():
            if name.endswith("_mask") or buffer is None or buffer.dtype.kind != "f":
                continue
            module._buffers[name] = np.abs(buffer)
    layers = weight_layers(probe)
    out = probe(Tensor(np.ones((1,) + tuple(input_shape))))
    out.sum().backward()
    originals = weight_layers(model)
    scores = {}
    for original, layer in zip(originals, layers):
        param = layer._parameters["weight_orig" if "weight_orig" in layer._parameters else "weight"]
        mask = layer._buffers.get("weight_mask")
        value = param.data if mask is None else param.data * mask
        scores[(original, "weight")] = value * (param.grad if param.grad is not None else 0.0)
    return scores


def synflow_prune(model, sparsity: float, input_shape: tuple, iterations: int = 100):
    """Iterative SynFlow: ``iterations`` rounds of scoring and global pruning, the kept fraction following
    the exponential schedule (1 − sparsity)^(k / iterations), so no layer collapses ("layer collapse" is what
    single-shot data-free pruning suffers from). Prunes ``model`` in place (masks) and returns it."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"synflow_prune: sparsity must be in [0, 1), got {sparsity}")
    layers = weight_layers(model)
    shapes = [weight_value(m).shape for m in layers]
    total = sum(int(np.prod(shape)) for shape in shapes)
    offsets = np.cumsum([int(np.prod(shape)) for shape in shapes])[:-1]
    masks = {m: np.ones(shape) for m, shape in zip(layers, shapes)}
    for k in range(1, iterations + 1):
        scores = synflow(model, input_shape, masks)
        pooled = np.concatenate([scores[(m, "weight")].ravel() for m in layers])
        pooled[np.concatenate([masks[m].ravel() for m in layers]) == 0] = -np.inf  # pruned stays pruned
        keep = np.ones(total)
        keep[smallest_k(pooled, nparams_to_prune(1 - (1 - sparsity) ** (k / iterations), total))] = 0
        masks = {m: part.reshape(shape) for m, part, shape in zip(layers, np.split(keep, offsets), shapes)}
    for m in layers:
        custom_from_mask(m, "weight", masks[m].astype(np.float32))
    return model
