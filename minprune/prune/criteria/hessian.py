"""Second-order criteria: how much the loss rises when a weight is removed (the seed §6 "Hessian-based").

Around a trained minimum the gradient is ≈ 0, so a Taylor expansion of the loss change when weights move by
δw is dominated by the quadratic term ½ δwᵀ H δw. Removing weight q (δw_q = −w_q):

- **OBD** (LeCun, Denker & Solla 1990, "Optimal Brain Damage") keeps only the diagonal of H:
  saliency_q = ½ h_qq w_q².
- **OBS** (Hassibi & Stork 1993, "Optimal Brain Surgeon") uses the full inverse Hessian and also *moves the
  other weights* to compensate: saliency_q = w_q² / (2 [H⁻¹]_qq), δw = −(w_q / [H⁻¹]_qq) · H⁻¹[:, q].
  Layer-wise (Dong et al. 2017; Frantar & Alistarh 2022), the loss is the layer's reconstruction error
  ‖WX − ŴX‖², whose Hessian per output row is H = 2XXᵀ/N — known exactly from the layer's inputs X.

The Hessian of a whole network is too big to form, so the diagonal is estimated: Hutchinson's trick
E[v ⊙ Hv] for Rademacher v (Bekas et al. 2007), with Hessian-vector products from finite differences of
gradients, or the empirical Fisher (mean squared per-sample gradients). The Fisher equals the Hessian only in
expectation, for a well-specified model at the true parameters (e.g. least squares with unit-variance noise);
elsewhere it is an approximation.
"""
from __future__ import annotations

import numpy as np

from ... import functional as F
from ..base import nparams_to_prune, smallest_k
from ..unstructured import custom_from_mask
from .common import batches, capture, evaluation_mode, gradients, weight_layers, weight_param, weight_value


# ---------------------------------------------------------------------- Hessian-vector products and diagonals
def hvp(model, data, vectors: dict, loss_fn=F.cross_entropy, eps: float = 1e-3) -> dict:
    """Hessian-vector product by central finite differences of gradients.

    Hv ≈ (∇L(θ + εv̂) − ∇L(θ − εv̂)) / (2ε) · ‖v‖ with v̂ = v / ‖v‖; the truncation error is O(ε²) for a
    smooth loss (ε²/6 · ∇⁴L[v̂, v̂, v̂] · ‖v‖: exact for a quadratic loss; a ReLU kink between θ ± εv̂ breaks that
    locally), and rounding adds about u · ‖∇L‖ · ‖v‖ / ε (u the unit roundoff, 6e-8 in float32): for accurate
    values use a float64 copy of the model. ``vectors``: ``{module: array}`` with each layer's weight
    shape; the result has the same keys. The weights are restored bit-exactly, and so is a pruned layer's
    effective ``module.weight`` (its forward pre-hook last set it from the perturbed weights). Cost: 2 gradient
    passes.
    """
    layers = list(vectors)
    norm = np.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for v in vectors.values()))
    if norm == 0:
        return {m: np.zeros_like(v) for m, v in vectors.items()}
    saved = {m: weight_param(m).data.copy() for m in layers}
    effective = {m: m.weight for m in layers if "weight_orig" in m._parameters}  # orig · mask, set by the hook
    try:
        for m in layers:
            weight_param(m).data = saved[m] + (eps / norm) * vectors[m].astype(saved[m].dtype)
        plus = gradients(model, data, loss_fn, layers)
        for m in layers:
            weight_param(m).data = saved[m] - (eps / norm) * vectors[m].astype(saved[m].dtype)
        minus = gradients(model, data, loss_fn, layers)
    finally:
        for m in layers:
            weight_param(m).data = saved[m]
        for m, weight in effective.items():
            m.weight = weight
    return {m: (plus[m] - minus[m]) * (norm / (2 * eps)) for m in layers}


def hutchinson(matvec, size: int, samples: int, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """Hutchinson's estimator of diag(H) from Hessian-vector products (Bekas, Kokiopoulou & Saad 2007).

    Draw Rademacher vectors v (entries ±1 with probability ½), compute v ⊙ (Hv) and average over ``samples``:
    since E[v vᵀ] = I, E[v ⊙ Hv]_q = Σ_j H_qj E[v_q v_j] = H_qq. ``matvec(v)`` returns Hv for a flat vector v
    of length ``size``; draws come from ``rng``. Returns the (size,) estimate; its standard error falls as
    1/√samples. Cost: ``samples`` calls of ``matvec``.
    """
    # BEGIN SOLUTION
    total = np.zeros(size, dtype=np.float64)
    for _ in range(samples):
        v = rng.choice(np.array([-1.0, 1.0], dtype=dtype), size=size)
        total += v * matvec(v)
    return total / samples
    # END SOLUTION


def hutchinson_diagonal(model, data, loss_fn=F.cross_entropy, samples: int = 20, eps: float = 1e-3,
                        rng: np.random.Generator | None = None) -> dict:
    """diag(H) of the loss with respect to every Linear/Conv2d weight, by :func:`hutchinson` with
    :func:`hvp` as the matrix-vector product. Returns ``{(module, "weight"): diag}``. Cost: 2 · samples
    gradient passes over ``data``."""
    rng = rng if rng is not None else np.random.default_rng(0)
    layers = weight_layers(model)
    data = batches(data)
    shapes = [weight_param(m).shape for m in layers]
    offsets = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]
    dtype = weight_param(layers[0]).dtype

    def matvec(v):
        parts = {m: part.reshape(s).astype(dtype) for m, part, s in zip(layers, np.split(v, offsets), shapes)}
        hv = hvp(model, data, parts, loss_fn, eps)
        return np.concatenate([hv[m].ravel() for m in layers])

    diagonal = hutchinson(matvec, int(sum(np.prod(s) for s in shapes)), samples, rng, dtype)
    return {(m, "weight"): part.reshape(s) for m, part, s in zip(layers, np.split(diagonal, offsets), shapes)}


def unfold(x: np.ndarray, module) -> np.ndarray:
    """The input patches a layer multiplies: (N, in) for a Linear; (N, C·kh·kw, L) for a Conv2d (as
    ``torch.nn.functional.unfold``: L output positions, rows ordered like the flattened filters)."""
    if not hasattr(module, "kernel_size"):
        return x.reshape(-1, x.shape[-1])
    from numpy.lib.stride_tricks import sliding_window_view
    (ph, pw), (sh, sw), (kh, kw) = module.padding, module.stride, module.kernel_size
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # (N, C, Ho, Wo, kh, kw)
    n, c, ho, wo = windows.shape[:4]
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, ho * wo)


def fisher_diagonal(model, data, loss_fn=F.cross_entropy, chunk: int = 64) -> dict:
    """Empirical Fisher diagonal: F_qq = (1/N) Σ_i (∂ℓ_i/∂w_q)², per-sample gradients squared and averaged.

    Per-sample gradients come from each layer's inputs and output gradients (captured with hooks): for a Linear,
    ∂ℓ_i/∂W = g_i x_iᵀ so Σ_i (g_i x_iᵀ)² = (G²)ᵀ(X²) — one GEMM, no loop over samples; for a Conv2d,
    ∂ℓ_i/∂W = g_i · unfold(x_i)ᵀ, computed in chunks of ``chunk`` samples (batched GEMMs), per group for a
    grouped (e.g. depthwise) convolution, whose filters see only their group's input channels. Cost: one
    backward per batch plus O(N · #weights).
    """
    layers = weight_layers(model)
    total = {m: np.zeros(weight_param(m).shape) for m in layers}
    count = 0
    inputs, outputs = {}, {}

    def record(module, args, output):
        inputs[module] = args[0].data
        output.retain_grad()
        outputs[module] = output

    handles = [m.register_forward_hook(record) for m in layers]
    try:
        with evaluation_mode(model):
            for x, y in batches(data):
                model.zero_grad()
                loss_fn(model(x), y, reduction="sum").backward()  # row i of an output grad = ∂ℓ_i/∂output_i
                for m in layers:
                    g, a = outputs[m].grad, inputs[m]
                    if g is None:
                        continue
                    if hasattr(m, "kernel_size"):
                        groups = getattr(m, "groups", 1)
                        g = g.reshape(len(g), groups, g.shape[1] // groups, -1)            # (N, G, O/G, L)
                        for s in range(0, len(a), chunk):
                            patches = unfold(a[s:s + chunk], m)                             # (n, C·kh·kw, L)
                            patches = patches.reshape(len(patches), groups, -1, patches.shape[-1])
                            per_sample = g[s:s + chunk] @ patches.transpose(0, 1, 3, 2)     # (n, G, O/G, C/G·kh·kw)
                            total[m] += (per_sample.astype(np.float64) ** 2).sum(axis=0).reshape(total[m].shape)
                    elif g.ndim == 2:
                        total[m] += (g.astype(np.float64) ** 2).T @ (a.astype(np.float64) ** 2)
                    else:  # tokens: ∂ℓ_i/∂W = Σ_l g_il x_ilᵀ, summed before squaring
                        per_sample = np.einsum("nlo,nli->noi", g.reshape(len(g), -1, g.shape[-1]),
                                               a.reshape(len(a), -1, a.shape[-1]))
                        total[m] += (per_sample.astype(np.float64) ** 2).sum(axis=0)
                count += len(y)
    finally:
        for h in handles:
            h.remove()
    return {(m, "weight"): t / count for m, t in total.items()}


def obd_saliency(weight: np.ndarray, hessian_diagonal: np.ndarray) -> np.ndarray:
    """OBD saliency ½ h_qq w_q² (LeCun et al. 1990): the predicted loss increase of zeroing w_q alone, for a
    quadratic loss at a minimum with a diagonal Hessian. Shapes: both (…) → (…)."""
    return 0.5 * hessian_diagonal * np.asarray(weight, dtype=np.float64) ** 2


def obd(model, data, loss_fn=F.cross_entropy, estimator: str = "hutchinson", samples: int = 20, rng=None) -> dict:
    """OBD saliencies of every weight, with diag(H) from ``estimator`` = "hutchinson" or "fisher".

    Hutchinson's estimate of an h_qq can come out negative (its noise; at a minimum H is positive semi-definite
    and the Fisher never is negative). Such entries are clipped to 0 here: the pruning functions rank |scores|
    (as PyTorch), and a negative saliency would otherwise rank as important as its magnitude.
    """
    if estimator == "hutchinson":
        diagonal = hutchinson_diagonal(model, data, loss_fn, samples=samples, rng=rng)
    elif estimator == "fisher":
        diagonal = fisher_diagonal(model, data, loss_fn)
    else:
        raise ValueError(f"estimator must be 'hutchinson' or 'fisher', got {estimator!r}")
    return {key: obd_saliency(weight_value(key[0]), np.maximum(h, 0.0)) for key, h in diagonal.items()}


# ---------------------------------------------------------------------- layer-wise OBS
def layer_hessian(inputs: np.ndarray, damp: float = 0.01) -> np.ndarray:
    """H = 2XXᵀ/N + λI for a layer's inputs X (N samples × d features; extra axes count as samples).

    λ = damp · mean(diag(2XXᵀ/N)) keeps H invertible when features are constant or correlated (as SparseGPT's
    relative dampening). Shape (d, d), float64.
    """
    x = inputs.reshape(-1, inputs.shape[-1]).astype(np.float64)
    h = 2.0 * x.T @ x / len(x)
    return h + damp * max(float(np.mean(np.diag(h))), 1e-12) * np.eye(len(h))


def obs_update(w: np.ndarray, hinv: np.ndarray, q: np.ndarray):
    """OBS saliency and compensating update for removing weight ``q[r]`` from each row ``r`` of ``w``.

    Shapes: w (R, d) weights (one row per output), hinv (R, d, d) each row's inverse Hessian, q (R,) ints.
    Returns (saliency (R,), delta (R, d)) with
        saliency_r = w_rq² / (2 [H⁻¹_r]_qq),    delta_r = −(w_rq / [H⁻¹_r]_qq) · H⁻¹_r[:, q]
    so that (w + delta)_rq = 0 exactly and the quadratic loss rises by exactly saliency_r (Hassibi & Stork 1993).
    For a single row use R = 1.
    """
    # BEGIN SOLUTION
    rows = np.arange(len(w))
    w_q = w[rows, q]
    hinv_qq = hinv[rows, q, q]
    saliency = w_q ** 2 / (2 * hinv_qq)
    delta = -(w_q / hinv_qq)[:, None] * hinv[rows, :, q]
    return saliency, delta
    # END SOLUTION


def obs_prune_rows(weight: np.ndarray, hessian: np.ndarray, sparsity: float):
    """Greedy layer-wise OBS: from each row remove, one at a time, the weight of least saliency and update the
    rest, until ``round(sparsity · d)`` weights of every row are zero. Returns (new weight, mask).

    Each row keeps its own inverse Hessian (R copies of d×d), shrunk after each removal by the rank-one update
    H⁻¹ ← H⁻¹ − H⁻¹[:, q] H⁻¹[q, :] / H⁻¹[q, q]. Every step is vectorized over rows. Memory O(R·d²), time
    O(k·R·d²): for small layers and teaching; :func:`sparsegpt` scales.
    """
    w = np.array(weight, dtype=np.float64)
    rows, d = w.shape
    k = nparams_to_prune(sparsity, d)
    hinv = np.repeat(np.linalg.inv(hessian)[None], rows, axis=0)
    alive = np.ones_like(w, dtype=bool)
    index = np.arange(rows)
    for _ in range(k):
        diagonal = np.einsum("rii->ri", hinv)
        saliency = np.where(alive, w ** 2 / (2 * np.where(alive, diagonal, 1.0)), np.inf)
        q = saliency.argmin(axis=1)
        _, delta = obs_update(w, hinv, q)
        w += delta * alive
        w[index, q] = 0.0
        alive[index, q] = False
        column, row = hinv[index, :, q], hinv[index, q, :]
        hinv -= column[:, :, None] * row[:, None, :] / hinv[index, q, q][:, None, None]
    return w.astype(weight.dtype), alive.astype(weight.dtype)


def sparsegpt(weight: np.ndarray, hessian: np.ndarray, sparsity: float = 0.5, n: int | None = None,
              m: int | None = None, blocksize: int = 128):
    """SparseGPT (Frantar & Alistarh 2023): OBS for large layers, one shared inverse Hessian.

    Columns are processed left to right. The upper Cholesky factor U of H⁻¹ gives, for column i, the OBS
    update restricted to the columns not yet processed: after choosing which entries of column i to zero (q_i),
    the error e = (w_i − q_i) / U_ii is propagated as W[:, i:] −= e ⊗ U[i, i:]. The mask is chosen per block of
    ``blocksize`` columns by the OBS saliency w² / U_ii² (the ``round(sparsity · size)`` smallest of the block),
    or with ``n``:``m`` set, the m − n smallest of every m consecutive columns in each row (2:4 by default off).
    Exact OBS for this fixed column order. Shapes: weight (R, d), hessian (d, d). Returns (new weight, mask).
    Cost O(d³ + R·d²).
    """
    w = np.array(weight, dtype=np.float64)
    rows, d = w.shape
    if (n is None) != (m is None) or (m is not None and (d % m or blocksize % m or not 0 <= n <= m)):
        # groups of m columns must not straddle two blocks, or a group's mask would be chosen twice
        raise ValueError(f"sparsegpt: give both n and m (0 ≤ n ≤ m) with the input dimension ({d}) and "
                         f"blocksize ({blocksize}) multiples of m; got n={n}, m={m}")
    upper = np.linalg.cholesky(np.linalg.inv(hessian)).T
    mask = np.ones_like(w, dtype=bool)
    for start in range(0, d, blocksize):
        stop = min(start + blocksize, d)
        block_u = upper[start:stop, start:stop]
        if m is None:
            saliency = w[:, start:stop] ** 2 / np.diag(block_u)[None, :] ** 2
            drop = smallest_k(saliency, nparams_to_prune(sparsity, saliency.size))
            block_mask = np.ones(saliency.size, dtype=bool)
            block_mask[drop] = False
            mask[:, start:stop] = block_mask.reshape(saliency.shape)
        errors = np.zeros((rows, stop - start))
        for i in range(start, stop):
            if m is not None and (i - start) % m == 0:
                saliency = w[:, i:i + m] ** 2 / np.diag(upper)[i:i + m][None, :] ** 2
                order = np.argsort(saliency, axis=1, kind="stable")[:, :m - n]
                group = np.ones_like(saliency, dtype=bool)
                np.put_along_axis(group, order, False, axis=1)
                mask[:, i:i + m] = group
            column = w[:, i]
            quantized = np.where(mask[:, i], column, 0.0)
            error = (column - quantized) / upper[i, i]
            w[:, i:stop] -= np.outer(error, upper[i, i:stop])
            w[:, i] = quantized
            errors[:, i - start] = error
        w[:, stop:] -= errors @ upper[start:stop, stop:]
    return (w * mask).astype(weight.dtype), mask.astype(weight.dtype)


def reconstruction_error(weight: np.ndarray, new_weight: np.ndarray, inputs: np.ndarray) -> float:
    """Mean squared layer-output error ‖(W − Ŵ)X‖² / N — what layer-wise OBS minimises."""
    x = inputs.reshape(-1, inputs.shape[-1]).astype(np.float64)
    diff = x @ (np.asarray(weight, np.float64) - np.asarray(new_weight, np.float64)).T
    return float((diff ** 2).sum() / len(x))


def layerwise_obs(model, data, sparsity: float = 0.5, method: str = "auto", damp: float = 0.01,
                  n: int | None = None, m: int | None = None, max_row_copies: float = 1e6) -> dict:
    """Prune every Linear layer of ``model`` one-shot with layer-wise OBS, updating the surviving weights.

    For each Linear (in order), its inputs on ``data`` give H = 2XXᵀ/N + λI; then ``method`` = "obs" (greedy
    per row, :func:`obs_prune_rows`), "sparsegpt" (:func:`sparsegpt`), or "auto" (OBS when R·d² ≤
    ``max_row_copies``, else SparseGPT). The new weights are written into the layer's weight Parameter and the
    mask applied with ``custom_from_mask`` (in place, as the torch-style API). Each layer's inputs are
    captured from the model as it is at that point — the earlier layers already pruned — so every layer also
    compensates the errors made before it (as SparseGPT does). ``n``:``m`` patterns need SparseGPT.
    Returns ``{layer: reconstruction error}`` (:func:`reconstruction_error` on the inputs it was pruned with).
    """
    from ... import nn

    if method not in ("auto", "obs", "sparsegpt"):
        raise ValueError(f"method must be 'auto', 'obs' or 'sparsegpt', got {method!r}")
    if method == "obs" and (n is not None or m is not None):
        raise ValueError(f"layerwise_obs: an n:m pattern (n={n}, m={m}) needs method='sparsegpt' or 'auto', "
                         "not 'obs'")
    errors = {}
    for layer in weight_layers(model, (nn.Linear,)):
        inputs = capture(model, data, [layer], "input")[layer]
        hessian = layer_hessian(inputs, damp)
        weight = weight_value(layer).copy()
        use_obs = method == "obs" or (method == "auto" and n is None and weight.size * weight.shape[1] <= max_row_copies)
        new_weight, mask = (obs_prune_rows(weight, hessian, sparsity) if use_obs
                            else sparsegpt(weight, hessian, sparsity, n=n, m=m))
        weight_param(layer).data[...] = new_weight
        custom_from_mask(layer, "weight", mask)
        errors[layer] = reconstruction_error(weight, new_weight, inputs)
    return errors
