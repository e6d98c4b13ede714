"""Mistake: drawing one Rademacher vector before the loop and reusing it for every sample, so averaging removes
no noise at all."""
import numpy as np


def hutchinson(matvec, size, samples, rng, dtype=np.float64):
    v = rng.choice(np.array([-1.0, 1.0], dtype=dtype), size=size)
    total = np.zeros(size)
    for _ in range(samples):
        total += v * matvec(v)
    return total / samples
