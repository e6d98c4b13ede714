"""Mistake: keeping the *last* r singular triplets (the smallest singular values — np.linalg.svd sorts them in
descending order), the worst rank-r approximation instead of the best."""
import numpy as np


def svd_factors(weight, rank):
    u, s, vt = np.linalg.svd(np.asarray(weight, dtype=np.float64), full_matrices=False)
    root = np.sqrt(s[-rank:])
    return root[:, None] * vt[-rank:], u[:, -rank:] * root[None, :], s
