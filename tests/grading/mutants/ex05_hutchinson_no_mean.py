"""Mistake: summing v ⊙ Hv over the samples and forgetting to divide by their number."""
import numpy as np


def hutchinson(matvec, size, samples, rng, dtype=np.float64):
    total = np.zeros(size)
    for _ in range(samples):
        v = rng.choice(np.array([-1.0, 1.0], dtype=dtype), size=size)
        total += v * matvec(v)
    return total
