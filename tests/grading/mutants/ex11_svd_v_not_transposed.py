"""Mistake: forgetting that ``np.linalg.svd`` returns Vᵀ (not V) and transposing it again: A = √Σ_r (Vᵀ)[:, :r]ᵀ
takes the wrong singular vectors (rows of V instead of its columns)."""
import numpy as np


def svd_factors(weight, rank):
    u, s, vt = np.linalg.svd(np.asarray(weight, dtype=np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    return root[:, None] * vt[:, :rank].T, u[:, :rank] * root[None, :], s
