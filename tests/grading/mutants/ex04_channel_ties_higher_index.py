"""Mistake: among channels of equal norm the *higher* index is pruned first (ties broken the wrong way)."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def ln_structured_mask(t, amount, n=2, dim=0):
    t = np.asarray(t)
    dim = dim % t.ndim
    flat = np.abs(np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1))
    norms = flat.max(axis=1, initial=0.0) if n == np.inf else (flat ** n).sum(axis=1) ** (1 / n)
    order = np.argsort(-norms, kind="stable")[::-1]  # ascending norms, ties in descending index order
    keep = np.ones(t.shape[dim], dtype=np.float32)
    keep[order[:nparams_to_prune(amount, t.shape[dim])]] = 0
    shape = [1] * t.ndim
    shape[dim] = -1
    return np.broadcast_to(keep.reshape(shape), t.shape).astype(np.float32)
