"""Pruning language models the way LLMs are pruned: one shot, no retraining (the seed §16 "LLMs").

- **Magnitude** per output row, the baseline.
- **Wanda** (Sun et al. 2023): score |W_ij| · ‖X_j‖₂ and prune the lowest of *each output row* — activation
  outliers make some input features matter far more than their weights' size suggests.
- **SparseGPT** (Frantar & Alistarh 2023): layer-wise OBS with one shared inverse Hessian, updating the
  remaining weights to compensate (``criteria.hessian.sparsegpt``).

Each prunes every projection of the model — the Linear layers and the attention's stacked q/k/v weight — to
a sparsity or an N:M pattern, from a few calibration batches. Attention heads are scored by Michel et al. (2019)'s gate
gradient and removed physically; :func:`perplexity` measures the result.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..tensor import Tensor, no_grad
from .base import current_value, nparams_to_prune, trainable_parameter, validate_amount
from .criteria.activation import input_norms
from .criteria.common import batches, capture, evaluation_mode
from .criteria.hessian import layer_hessian, sparsegpt
from .patterns import nm_mask
from .unstructured import custom_from_mask


def row_mask(scores: np.ndarray, sparsity: float) -> np.ndarray:
    """Prune the ``round(sparsity · in)`` lowest scores of every row (ties: lower index first)."""
    validate_amount(sparsity)
    rows, cols = scores.shape
    k = nparams_to_prune(sparsity, cols)
    order = np.argsort(scores, axis=1, kind="stable")
    mask = np.ones_like(scores, dtype=np.float32)
    np.put_along_axis(mask, order[:, :k], 0.0, axis=1)
    return mask


def wanda_mask(weight: np.ndarray, inputs: np.ndarray, sparsity: float = 0.5) -> np.ndarray:
    """Wanda's mask for a Linear weight (out, in) given calibration inputs (N, …, in).

    S_ij = |W_ij| · ‖X_j‖₂ (the norm of input feature j over all N·L tokens); within each output row i, the
    ``round(sparsity · in)`` smallest S_ij are pruned (ties: lower index first). Returns a float32 0/1 (out, in).
    """
    # BEGIN SOLUTION
    x = np.asarray(inputs, dtype=np.float64).reshape(-1, np.shape(inputs)[-1])
    scores = np.abs(np.asarray(weight, dtype=np.float64)) * np.sqrt((x ** 2).sum(axis=0))[None, :]
    return row_mask(scores, sparsity)
    # END SOLUTION


METHODS = ("magnitude", "wanda", "sparsegpt")


def prunable_projections(model) -> list:
    """``(module, parameter name)`` of every projection an LLM pruner touches: each Linear's ``weight`` and each
    MultiheadAttention's stacked q/k/v ``in_proj_weight`` (its ``out_proj`` is a Linear), in forward order."""
    targets = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            targets.append((module, "weight"))
        elif isinstance(module, nn.MultiheadAttention):
            targets.append((module, "in_proj_weight"))
    return targets


def one_shot_prune(model, calibration, method: str = "wanda", sparsity: float = 0.5, n: int | None = None,
                   m: int | None = None, targets=None) -> dict:
    """Prune every projection of ``model`` (:func:`prunable_projections`, or ``targets``) one-shot with
    ``method``; with ``n``/``m`` set, to the N:M pattern instead of ``sparsity``.

    Layers are pruned in order, each from the inputs it receives *after* the earlier layers were pruned (as
    SparseGPT and Wanda do); for self-attention the input of q, k and v is the same (the block's normed
    input). SparseGPT also updates the remaining weights. In place (masks via ``custom_from_mask``); returns
    ``{"layer.param": fraction pruned}``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if (n is None) != (m is None):
        raise ValueError("give both n and m for N:M sparsity")
    names = {id(mod): name for name, mod in model.named_modules()}
    targets = prunable_projections(model) if targets is None else list(targets)
    # validate everything before the first layer is pruned, so bad input leaves the model unchanged
    if n is None:
        validate_amount(sparsity)
    elif not (isinstance(n, int) and isinstance(m, int) and 0 <= n <= m and m > 0):
        raise ValueError(f"N:M sparsity needs integers 0 <= n <= m, m > 0; got n={n!r}, m={m!r}")
    else:
        misfits = {f"{names.get(id(mod), '?')}.{name}": current_value(mod, name).shape[-1] for mod, name in targets
                   if current_value(mod, name).shape[-1] % m}
        if misfits:
            raise ValueError(f"{n}:{m} sparsity needs input dimensions divisible by m={m}; got {misfits}")
    data = None if method == "magnitude" else batches(calibration)
    result = {}
    for module, name in targets:
        weight = current_value(module, name)
        inputs = None if data is None else capture(model, data, [module], "input")[module]
        if method == "sparsegpt":
            new_weight, mask = sparsegpt(weight, layer_hessian(inputs), sparsity, n=n, m=m)
            trainable_parameter(module, name).data[...] = new_weight
        else:
            scores = np.abs(weight).astype(np.float64)
            if method == "wanda":
                scores = scores * input_norms(inputs)[None, :]
            mask = nm_mask(scores, n, m) if n is not None else row_mask(scores, sparsity)
        custom_from_mask(module, name, mask.astype(weight.dtype))
        result[f"{names.get(id(module), '?')}.{name}"] = float(1 - mask.mean())
    return result


def wanda_prune(model, calibration_batches, sparsity: float = 0.5, n: int | None = None, m: int | None = None):
    """Wanda on every projection (see :func:`one_shot_prune`)."""
    return one_shot_prune(model, calibration_batches, "wanda", sparsity, n, m)


def magnitude_prune(model, sparsity: float = 0.5, n: int | None = None, m: int | None = None):
    """Per-row magnitude pruning of every projection (no data needed)."""
    return one_shot_prune(model, None, "magnitude", sparsity, n, m)


def sparsegpt_prune(model, calibration_batches, sparsity: float = 0.5, n: int | None = None, m: int | None = None):
    """SparseGPT-style OBS on every projection (see :func:`one_shot_prune`)."""
    return one_shot_prune(model, calibration_batches, "sparsegpt", sparsity, n, m)


# ---------------------------------------------------------------------- evaluation
def perplexity(model, batches_, loss_fn=None) -> float:
    """exp(mean next-token cross-entropy) over ``(x, y)`` batches — the LLM papers' metric (lower is better)."""
    from ..models import lm_loss

    loss_fn = lm_loss if loss_fn is None else loss_fn
    total, count = 0.0, 0
    with evaluation_mode(model), no_grad():
        for x, y in batches(batches_):
            total += float(loss_fn(model(x), y, reduction="sum").data)
            count += np.size(y)
    return float(np.exp(total / count))


# ---------------------------------------------------------------------- attention heads
def attention_layers(model) -> list:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]


def head_importance(model, data, loss_fn=None) -> dict:
    """Michel et al. (2019, "Are Sixteen Heads Really Better than One?"): give each head h a gate ξ_h = 1 that
    multiplies its output; its importance is E_x |∂L/∂ξ_h| over the batches of ``data``. Returns
    ``{attention layer name: (H,) scores}``; the model is left as it was."""
    from ..models import lm_loss

    loss_fn = lm_loss if loss_fn is None else loss_fn
    layers = attention_layers(model)
    grads = {name: [] for name, _ in layers}
    with evaluation_mode(model):
        try:
            for _, m in layers:
                m.head_gate = Tensor(np.ones(m.num_heads, dtype=m.in_proj_weight.dtype), requires_grad=True)
            for x, y in batches(data):
                for _, m in layers:
                    m.head_gate.grad = None
                loss_fn(model(x), y).backward()
                for name, m in layers:
                    grads[name].append(m.head_gate.grad.copy())
        finally:
            for _, m in layers:
                m.head_gate = None
    return {name: gate_sensitivity(np.stack(g)) for name, g in grads.items()}


def gate_sensitivity(gate_gradients: np.ndarray) -> np.ndarray:
    """Head importance from gate gradients (Michel et al. 2019, eq. 2): I_h = E_x |∂L(x)/∂ξ_h|, the mean over
    batches of the absolute gradient of the loss with respect to head h's gate (all gates at 1), then
    normalised by the layer's L2 norm (their §4.1), so layers compare. Shapes: (B batches, H) → (H,)."""
    # BEGIN SOLUTION
    importance = np.abs(np.asarray(gate_gradients, dtype=np.float64)).mean(axis=0)
    norm = np.linalg.norm(importance)
    return importance / norm if norm > 0 else importance
    # END SOLUTION


def prune_heads(model, heads: dict):
    """Remove heads physically: ``heads`` = ``{attention layer name: [head indices]}``. In place; returns the
    model. An unknown layer name, an out-of-range head index, removing every head of a layer or a projection
    that still carries a pruning mask → ValueError, a non-integer index → TypeError, before anything changes."""
    layers = dict(attention_layers(model))
    for name, indices in heads.items():  # validate every layer before changing any
        if name not in layers:
            raise ValueError(f"prune_heads: no attention layer {name!r}; layers: {sorted(layers)}")
        try:
            layers[name].check_heads(indices)
        except (TypeError, ValueError) as error:
            raise type(error)(f"prune_heads: layer {name!r}: {error}") from None
    for name, indices in heads.items():
        layers[name].remove_heads(indices)
    return model
