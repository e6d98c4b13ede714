"""Fitting a model into an edge budget (the seed §16 "edge computing", "mobile AI"): bytes on disk, latency
on this machine, multiply-accumulates.

:func:`fit_budget` is a **greedy, sensitivity-guided** width search over the pruning groups of
:class:`~minprune.prune.graph.DependencyGraph` (in the spirit of NetAdapt, Yang et al. 2018): at every step it
tries removing a slice (``step`` of the remaining channels) from each group, measures the accuracy on a small
validation batch, and keeps the candidate that loses the least accuracy per unit saved — per byte of weights
while the file is over its budget, per multiply-accumulate otherwise (MACs stand in for latency, which is too
noisy to rank candidates by) — until every budget holds. Then it fine-tunes. If even the narrowest model it can
reach misses the budget, it says so.
"""
from __future__ import annotations

import copy
import os
import tempfile

import numpy as np

from .. import metrics
from ..train import accuracy
from ..tensor import no_grad
from .graph import DependencyGraph
from .surgery import group_importance


def _measure(model, x, max_bytes, max_latency_ms, max_flops, repeats: int):
    from .. import deploy

    result = {"macs": metrics.flops(model, (1,) + tuple(x.shape[1:])).dense}
    if max_bytes is not None:
        fd, path = tempfile.mkstemp(suffix=".npz")
        os.close(fd)
        try:
            deploy.export(model, path, "dense")
            result["bytes"] = os.path.getsize(path)
        finally:
            os.unlink(path)
    if max_latency_ms is not None:
        result["latency_ms"] = 1e3 * metrics.latency(model, x[:1], repeats=repeats, warmup=2).median
    return result


def _fits(m, max_bytes, max_latency_ms, max_flops) -> bool:
    return ((max_bytes is None or m["bytes"] <= max_bytes) and (max_flops is None or m["macs"] <= max_flops)
            and (max_latency_ms is None or m["latency_ms"] <= max_latency_ms))


def _narrowed(model, x, group_index, step):
    """A copy of ``model`` with ``step`` of the channels of one group removed (lowest L2 importance)."""
    candidate = copy.deepcopy(model)
    group = [g for g in DependencyGraph(candidate, x).groups() if g.prunable][group_index]
    k = int(np.ceil(step * group.size))
    if group.size - k < 1:
        return None
    group.prune(np.argsort(group_importance(group), kind="stable")[:k])
    return candidate


def fit_budget(model, data, max_bytes=None, max_latency_ms=None, max_flops=None, step: float = 0.25,
               fine_tune=None, max_steps: int = 40, repeats: int = 20):
    """Shrink ``model`` until the deployed file (``deploy.export``, dense), the measured single-image latency
    and the MACs meet every given budget; return ``(new_model, report)``. ``model`` is untouched.

    ``data``: a validation pair ``(x, y)`` of arrays used to rank candidates (keep it small, ~500 images).
    ``fine_tune(model)`` runs once at the end. Raises ValueError naming the smallest size/latency/MACs reached
    when no configuration within ``max_steps`` meets the budget.
    """
    if max_bytes is None and max_latency_ms is None and max_flops is None:
        raise ValueError("fit_budget: give at least one of max_bytes, max_latency_ms, max_flops")
    for name, value in (("max_bytes", max_bytes), ("max_latency_ms", max_latency_ms), ("max_flops", max_flops)):
        if value is not None and not (isinstance(value, (int, float, np.number)) and value > 0):
            raise ValueError(f"fit_budget: {name} must be a positive number, got {value!r}")
    x, y = data
    current = copy.deepcopy(model).eval()
    measured = _measure(current, x, max_bytes, max_latency_ms, max_flops, repeats)
    history = [dict(measured, accuracy=_accuracy(current, x, y))]
    for _ in range(max_steps):
        if _fits(measured, max_bytes, max_latency_ms, max_flops):
            break
        groups = [g for g in DependencyGraph(current, x).groups() if g.prunable]
        best, best_score = None, -np.inf
        # what to save: bytes while the file is too large, else MACs (also the proxy for latency)
        resource = "bytes" if max_bytes is not None and measured["bytes"] > max_bytes else "macs"
        base_accuracy, base_cost = history[-1]["accuracy"], _cost(current, x, resource)
        for index in range(len(groups)):
            candidate = _narrowed(current, x, index, step)
            if candidate is None:
                continue
            saved = base_cost - _cost(candidate, x, resource)
            score = -(base_accuracy - _accuracy(candidate, x, y)) / max(saved, 1)
            if score > best_score:
                best, best_score = candidate, score
        if best is None:
            break
        current = best
        measured = _measure(current, x, max_bytes, max_latency_ms, max_flops, repeats)
        history.append(dict(measured, accuracy=_accuracy(current, x, y)))
    if not _fits(measured, max_bytes, max_latency_ms, max_flops):
        raise ValueError(f"fit_budget: no configuration met the budget (max_bytes={max_bytes}, max_latency_ms="
                         f"{max_latency_ms}, max_flops={max_flops}); the smallest reached: {measured}")
    if fine_tune is not None:
        fine_tune(current)
        history[-1]["accuracy_after_fine_tune"] = _accuracy(current, x, y)
    return current, {"history": history, "final": history[-1], "dense": history[0]}


def _cost(model, x, resource: str) -> int:
    """Bytes of the dense weights (what the exported file grows with) or MACs for one input like ``x[:1]``."""
    if resource == "bytes":
        return metrics.model_size_bytes(model, "dense")
    return metrics.flops(model, (1,) + tuple(x.shape[1:])).dense


def _accuracy(model, x, y) -> float:
    with no_grad():
        return accuracy(model.eval()(x).data, y)
