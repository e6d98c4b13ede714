"""Mistake: putting all of Σ into one factor (A = V_rᵀ, B = U_r Σ_r). B·A is still the best rank-r
approximation, but not the even √Σ split the docstring asks for (which keeps both factors on the same scale)."""
import numpy as np


def svd_factors(weight, rank):
    u, s, vt = np.linalg.svd(np.asarray(weight, dtype=np.float64), full_matrices=False)
    return vt[:rank], u[:, :rank] * s[:rank], s
