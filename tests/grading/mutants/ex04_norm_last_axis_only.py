"""Mistake: the norm over the wrong axes — reducing only the last axis and then summing what is left, i.e.
Σ_rows ‖row‖₂ instead of the L2 norm of all the channel's entries (right for 2-D L1, wrong otherwise)."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def ln_structured_mask(t, amount, n=2, dim=0):
    t = np.asarray(t)
    dim = dim % t.ndim
    a = np.abs(np.moveaxis(t, dim, 0))
    per_row = a.max(axis=-1) if n == np.inf else (a ** n).sum(axis=-1) ** (1 / n)
    norms = per_row.reshape(t.shape[dim], -1).sum(axis=1)
    keep = np.ones(t.shape[dim], dtype=np.float32)
    keep[np.argsort(norms, kind="stable")[:nparams_to_prune(amount, t.shape[dim])]] = 0
    shape = [1] * t.ndim
    shape[dim] = -1
    return np.broadcast_to(keep.reshape(shape), t.shape).astype(np.float32)
