"""Pattern sparsity: N:M (e.g. 2:4) and block sparsity — the zeros hardware can actually skip.

Unstructured zeros are scattered, so a dense kernel gains nothing from them. Two patterns fix that:

- **N:M**: in every group of M consecutive weights along the input dimension, at most N are non-zero.
  NVIDIA Ampere tensor cores run 2:4 at twice the dense speed (Mishra et al. 2021, "Accelerating Sparse
  Deep Neural Networks"). A 2:4 layer is exactly 50 % sparse.
- **Block**: whole r×c tiles are kept or removed by their L1 norm, so a kernel can skip a tile at once
  (Gray et al. 2017, block-sparse GPU kernels; Narang et al. 2017).
"""
from __future__ import annotations

import numpy as np

from .base import BasePruningMethod, validate_amount, nparams_to_prune, smallest_k


def nm_mask(scores: np.ndarray, n: int = 2, m: int = 4) -> np.ndarray:
    """Keep the ``n`` largest-|score| entries of every group of ``m`` consecutive entries along the last dim.

    Shapes: scores (..., in) with in divisible by m → a float32 0/1 mask of the same shape with exactly n ones
    per group. Ties: the lower index is pruned first (a stable argsort inside each group of m). Cost O(size·log m).
    """
    scores = np.abs(np.asarray(scores))
    groups = scores.reshape(-1, m)
    order = np.argsort(groups, axis=1, kind="stable")  # ascending: the first m − n entries are pruned
    mask = np.ones_like(groups, dtype=np.float32)
    np.put_along_axis(mask, order[:, :m - n], 0.0, axis=1)
    return mask.reshape(scores.shape)


class NMStructured(BasePruningMethod):
    """N:M fine-grained structured sparsity along the last dimension (the input dimension of a Linear)."""

    PRUNING_TYPE = "global"

    def __init__(self, n: int = 2, m: int = 4):
        if not (isinstance(n, int) and isinstance(m, int) and 0 <= n <= m and m > 0):
            raise ValueError(f"N:M sparsity needs integers 0 <= n <= m, m > 0; got n={n!r}, m={m!r}")
        self.n, self.m = n, m

    def compute_mask(self, t, default_mask):
        if t.ndim < 1 or t.shape[-1] % self.m:
            raise ValueError(f"N:M sparsity: the last dimension ({t.shape[-1] if t.ndim else 'scalar'}) of a "
                             f"tensor of shape {t.shape} must be a multiple of m={self.m}")
        # entries already pruned count as the smallest, so they are among the m − n pruned ones
        return nm_mask(np.where(default_mask == 0, -1.0, np.abs(t)) + 1.0, self.n, self.m) * default_mask


def block_mask(scores: np.ndarray, amount, block=(4, 4), default_mask: np.ndarray | None = None) -> np.ndarray:
    """Zero the ``round(amount · B)`` blocks of ``block`` = (r, c) with the smallest L1 norm of |scores|.

    Shapes: a 2-D (out, in) array with out % r == 0 and in % c == 0 (B = out·in / (r·c) blocks). Higher dims
    (conv weights) are flattened to (out, in·kh·kw) first. As pruning again does everywhere, B counts only the
    blocks not yet entirely pruned (so 50 % then 50 % leaves 25 % of the blocks); entries pruned earlier count
    as 0 in a block's norm. Ties: the lower block index (row-major over the grid of blocks) is pruned first.
    """
    scores = np.asarray(scores)
    flat = scores.reshape(scores.shape[0], -1)
    r, c = block
    rows, cols = flat.shape
    if rows % r or cols % c:
        raise ValueError(f"block_unstructured: weight of shape {flat.shape} is not divisible into blocks {block}")
    mask = np.ones(flat.shape, np.float32) if default_mask is None else default_mask.reshape(flat.shape).copy()
    tiles = (np.abs(flat) * mask).reshape(rows // r, r, cols // c, c).sum(axis=(1, 3))
    alive = np.flatnonzero(mask.reshape(rows // r, r, cols // c, c).any(axis=(1, 3)))  # blocks still in use
    drop = np.zeros(tiles.size, dtype=bool)
    drop[alive[smallest_k(tiles.reshape(-1)[alive], nparams_to_prune(amount, alive.size))]] = True
    keep = np.repeat(np.repeat(~drop.reshape(tiles.shape), r, axis=0), c, axis=1)
    return (mask * keep).reshape(scores.shape)


class BlockUnstructured(BasePruningMethod):
    """Remove whole r×c blocks of a weight by their L1 norm."""

    PRUNING_TYPE = "global"

    def __init__(self, amount, block=(4, 4)):
        validate_amount(amount)
        block = tuple(block)
        if len(block) != 2 or not all(isinstance(b, int) and b > 0 for b in block):
            raise ValueError(f"block must be two positive ints (rows, cols), got {block!r}")
        self.amount, self.block = amount, block

    def compute_mask(self, t, default_mask):
        return block_mask(t, self.amount, self.block, default_mask).astype(default_mask.dtype)


def nm_structured(module, name: str, n: int = 2, m: int = 4, importance_scores=None):
    """Keep the ``n`` largest of every ``m`` consecutive input weights of ``module.<name>`` (2:4 by default)."""
    NMStructured.apply(module, name, n=n, m=m, importance_scores=importance_scores)
    return module


def block_unstructured(module, name: str, amount, block=(4, 4), importance_scores=None):
    """Remove ``amount`` of the r×c blocks of ``module.<name>`` with the smallest L1 norm."""
    BlockUnstructured.apply(module, name, amount=amount, block=block, importance_scores=importance_scores)
    return module
