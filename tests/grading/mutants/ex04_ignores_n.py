"""Mistake: ignoring `n` — always ranking channels by their L2 norm."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def ln_structured_mask(t, amount, n=2, dim=0):
    t = np.asarray(t)
    dim = dim % t.ndim
    flat = np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1)
    norms = np.sqrt((flat ** 2).sum(axis=1))
    keep = np.ones(t.shape[dim], dtype=np.float32)
    keep[np.argsort(norms, kind="stable")[:nparams_to_prune(amount, t.shape[dim])]] = 0
    shape = [1] * t.ndim
    shape[dim] = -1
    return np.broadcast_to(keep.reshape(shape), t.shape).astype(np.float32)
