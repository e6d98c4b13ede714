"""Mistake: the norm over the wrong entries — `t.reshape(t.shape[dim], -1)` without first moving `dim` to the
front, so for dim != 0 each "channel" is a run of consecutive memory, not the slice t[:, c, ...]."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def ln_structured_mask(t, amount, n=2, dim=0):
    t = np.asarray(t)
    dim = dim % t.ndim
    flat = np.abs(t.reshape(t.shape[dim], -1))
    norms = flat.max(axis=1) if n == np.inf else (flat ** n).sum(axis=1) ** (1 / n)
    keep = np.ones(t.shape[dim], dtype=np.float32)
    keep[np.argsort(norms, kind="stable")[:nparams_to_prune(amount, t.shape[dim])]] = 0
    shape = [1] * t.ndim
    shape[dim] = -1
    return np.broadcast_to(keep.reshape(shape), t.shape).astype(np.float32)
