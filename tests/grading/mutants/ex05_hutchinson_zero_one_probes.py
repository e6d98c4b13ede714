"""Mistake: probes with entries 0/1 (``rng.integers(0, 2)``) instead of ±1 — E[v vᵀ] is then not the identity,
so the estimate is biased by the off-diagonal entries."""
import numpy as np


def hutchinson(matvec, size, samples, rng, dtype=np.float64):
    total = np.zeros(size)
    for _ in range(samples):
        v = rng.integers(0, 2, size).astype(dtype)
        total += v * matvec(v)
    return total / samples
