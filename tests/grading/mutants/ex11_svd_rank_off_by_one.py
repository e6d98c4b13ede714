"""Mistake: slicing rank − 1 components (``[:rank - 1]``, as if ranks started at 0 … or mixing up the number of
singular values kept with the index of the last one)."""
import numpy as np


def svd_factors(weight, rank):
    u, s, vt = np.linalg.svd(np.asarray(weight, dtype=np.float64), full_matrices=False)
    root = np.sqrt(s[:rank - 1])
    return root[:, None] * vt[:rank - 1], u[:, :rank - 1] * root[None, :], s
