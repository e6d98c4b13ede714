"""Mistake: Gaussian probe vectors instead of Rademacher (±1). Still unbiased (E[v vᵀ] = I), but with a higher
variance: v_q² ≠ 1, so even a diagonal matrix is not recovered exactly."""
import numpy as np


def hutchinson(matvec, size, samples, rng, dtype=np.float64):
    total = np.zeros(size)
    for _ in range(samples):
        v = rng.standard_normal(size).astype(dtype)
        total += v * matvec(v)
    return total / samples
