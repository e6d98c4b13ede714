"""Mistake: ignoring `dim` — always ranking and pruning along dim 0 (output neurons/filters), even when asked for
input columns or channels (dim=1, dim=-1)."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def ln_structured_mask(t, amount, n=2, dim=0):
    t = np.asarray(t)
    flat = np.abs(t.reshape(t.shape[0], -1))
    norms = flat.max(axis=1) if n == np.inf else (flat ** n).sum(axis=1) ** (1 / n)
    keep = np.ones(t.shape[0], dtype=np.float32)
    keep[np.argsort(norms, kind="stable")[:nparams_to_prune(amount, t.shape[0])]] = 0
    return np.broadcast_to(keep.reshape([-1] + [1] * (t.ndim - 1)), t.shape).astype(np.float32)
