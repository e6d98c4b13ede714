"""Mistake: ignoring the ``rng`` argument and drawing from a fresh ``np.random.default_rng(0)`` — every call
then gives the same "random" estimate, whatever the caller's seed."""
import numpy as np


def hutchinson(matvec, size, samples, rng, dtype=np.float64):
    own = np.random.default_rng(0)
    total = np.zeros(size)
    for _ in range(samples):
        v = own.choice(np.array([-1.0, 1.0], dtype=dtype), size=size)
        total += v * matvec(v)
    return total / samples
