"""Federated learning with pruned and sparse updates (the seed §16: "reduce communication cost between
clients and server").

FedAvg (McMahan et al. 2017): each round, clients start from the global model, train a few local steps on
their own data, and send their update; the server averages the updates weighted by client data size.
Communication dominates, so compress what is sent:

- **top-k with error feedback** (Stich et al. 2018; Lin et al. 2018): send only the k largest entries of the
  update; what was not sent is remembered and added to the next update, so nothing is lost forever;
- **pruned models** (in the spirit of PruneFL, Jiang et al. 2022): the global model is pruned, clients
  train only its unpruned weights, and — the mask being known to both sides — send just those values.

Bytes are counted from the encodings that would really be sent (``minprune.sparse`` bitmask for top-k).
Bad clients (a dropped round, a corrupt or misshapen update) are skipped with a warning and never reach the
global model.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np

from . import functional as F
from . import optim
from .data import ArrayDataset
from .sparse import BitmaskMatrix


def fedavg(client_states, client_sizes, reference: dict | None = None) -> dict:
    """The sample-weighted average Σ_k n_k · w_k / Σ_k n_k of client state dicts (or updates).

    With ``reference`` (the expected keys and shapes), a client whose dict is None (dropped out), misses or adds
    keys, has a wrong shape or non-finite values is skipped with a warning. At least one valid client needed.
    """
    # BEGIN SOLUTION
    valid, sizes = [], []
    for k, (state, size) in enumerate(zip(client_states, client_sizes)):
        problem = _problem(state, reference)
        if problem:
            warnings.warn(f"fedavg: skipping client {k}: {problem}", RuntimeWarning, stacklevel=2)
            continue
        valid.append(state)
        sizes.append(float(size))
    if not valid:
        raise ValueError("fedavg: no valid client update to average")
    weights = np.asarray(sizes) / np.sum(sizes)
    return {key: sum(w * np.asarray(state[key], dtype=np.float64) for w, state in zip(weights, valid))
            .astype(np.asarray(valid[0][key]).dtype) for key in valid[0]}
    # END SOLUTION


def _problem(state, reference) -> str:
    if state is None:
        return "no update (dropped out)"
    if reference is None:
        return ""
    if set(state) != set(reference):
        return f"keys differ (missing {sorted(set(reference) - set(state))}, extra {sorted(set(state) - set(reference))})"
    for key, value in state.items():
        value = np.asarray(value)
        if value.shape != np.shape(reference[key]):
            return f"{key!r} has shape {value.shape}, expected {np.shape(reference[key])}"
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            return f"{key!r} has non-finite values"
    return ""


# ---------------------------------------------------------------------- splitting the data among clients
def split_iid(dataset, clients: int, rng) -> list:
    """``clients`` equal random shards of ``dataset`` (IID)."""
    order = rng.permutation(len(dataset))
    return [ArrayDataset(dataset.x[part], dataset.y[part]) for part in np.array_split(order, clients)]


def split_dirichlet(dataset, clients: int, alpha: float, rng) -> list:
    """Non-IID shards: for each class, the fractions going to each client are drawn from Dirichlet(α) —
    small α gives each client a few dominant classes (Hsu et al. 2019)."""
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    parts = [[] for _ in range(clients)]
    for label in np.unique(dataset.y):
        members = rng.permutation(np.flatnonzero(dataset.y == label))
        cuts = (np.cumsum(rng.dirichlet(np.full(clients, alpha)))[:-1] * len(members)).astype(int)
        for k, chunk in enumerate(np.split(members, cuts)):
            parts[k].append(chunk)
    return [ArrayDataset(dataset.x[np.concatenate(p)], dataset.y[np.concatenate(p)]) for p in parts]


# ---------------------------------------------------------------------- one client, one round
def _params(model) -> dict:
    return dict(model.named_parameters())


def local_update(model, dataset, steps: int, lr: float, batch_size: int, rng, loss_fn=F.cross_entropy) -> dict:
    """Train a copy of ``model`` for ``steps`` SGD steps on ``dataset``; return the update w_local − w_global
    for every parameter (pruned weights stay exactly 0 through the mask, so their update is 0 on the mask's
    zeros in the effective weights)."""
    local = copy.deepcopy(model).train()
    opt = optim.SGD(local.parameters(), lr=lr)
    for _ in range(steps):
        idx = rng.choice(len(dataset), size=min(batch_size, len(dataset)), replace=False)
        loss = loss_fn(local(dataset.x[idx]), dataset.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    start = _params(model)
    return {k: p.data - start[k].data for k, p in _params(local).items()}


def topk_with_feedback(update: dict, residual: dict, fraction: float) -> tuple:
    """Keep the ``fraction`` largest-|value| entries of each tensor of update + residual; return (sent, new
    residual) — the error feedback that makes top-k converge."""
    if not 0 < fraction <= 1:
        raise ValueError(f"topk_with_feedback: fraction must be in (0, 1], got {fraction!r}")
    sent, kept = {}, {}
    for key, value in update.items():
        total = value + residual.get(key, 0.0)
        k = max(1, int(round(fraction * total.size)))
        flat = total.ravel()
        top = np.argpartition(-np.abs(flat), k - 1)[:k]
        out = np.zeros_like(flat)
        out[top] = flat[top]
        sent[key] = out.reshape(total.shape)
        kept[key] = total - sent[key]
    return sent, kept


def update_bytes(update: dict, scheme: str, masks: dict | None = None) -> int:
    """Bytes to transmit ``update``: "dense" float32 values; "topk" a bitmask + the non-zero float32 values
    (``sparse.BitmaskMatrix``); "pruned" only the values at unmasked positions (the mask is shared)."""
    if scheme == "dense":
        return int(sum(4 * v.size for v in update.values()))
    if scheme == "topk":  # values travel as float32 whatever the training dtype, as in "dense"
        return int(sum(BitmaskMatrix.from_dense(np.asarray(v, dtype=np.float32)).nbytes for v in update.values()))
    if scheme == "pruned":
        masks = masks or {}
        return int(sum(4 * (int(masks[k].sum()) if k in masks else v.size) for k, v in update.items()))
    raise ValueError(f"scheme must be 'dense', 'topk' or 'pruned', got {scheme!r}")


def run_fedavg(model, clients, rounds: int, local_steps: int = 10, lr: float = 0.05, batch_size: int = 32,
               scheme: str = "dense", topk_fraction: float = 0.05, participation: float = 1.0, rng=None,
               evaluate=None) -> list:
    """Simulate FedAvg on ``model`` (updated in place) over ``clients`` (a list of datasets).

    ``scheme``: "dense", "topk" (with error feedback) or "pruned" (prune ``model`` first; its masks keep
    pruned weights at zero and only unpruned values are sent). ``participation``: fraction of clients per
    round. ``evaluate(model) -> accuracy``. Returns one dict per round: bytes (cumulative, uplink), accuracy.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    if scheme not in ("dense", "topk", "pruned"):
        raise ValueError(f"scheme must be 'dense', 'topk' or 'pruned', got {scheme!r}")
    masks = {k: m for k, m in _masks(model).items()} if scheme == "pruned" else {}
    residuals = [dict() for _ in clients]
    history, total_bytes = [], 0
    for round_index in range(rounds):
        chosen = rng.choice(len(clients), size=max(1, int(round(participation * len(clients)))), replace=False)
        updates, sizes = [], []
        for k in chosen:
            update = local_update(model, clients[k], local_steps, lr, batch_size, rng)
            if scheme == "topk":
                update, residuals[k] = topk_with_feedback(update, residuals[k], topk_fraction)
            total_bytes += update_bytes(update, scheme, masks)
            updates.append(update)
            sizes.append(len(clients[k]))
        average = fedavg(updates, sizes, reference={k: p.data for k, p in _params(model).items()})
        for key, param in _params(model).items():
            param.data += average[key].astype(param.dtype)
        history.append({"round": round_index + 1, "bytes": total_bytes,
                        "accuracy": None if evaluate is None else evaluate(model)})
    return history


def _masks(model) -> dict:
    """``{parameter name: mask}`` for every pruned parameter (``..._orig`` ↔ ``..._mask``)."""
    out = {}
    for prefix, module in model.named_modules():
        for name, buffer in module._buffers.items():
            if name.endswith("_mask"):
                key = f"{prefix}.{name[:-5]}_orig" if prefix else f"{name[:-5]}_orig"
                out[key] = buffer
    return out
