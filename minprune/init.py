"""Weight initialisation, drawn from a ``np.random.Generator`` (never NumPy's global random state).

Layers take ``rng=``; when it is omitted they draw from :data:`default_generator`, a Generator seeded with 0
when minprune is imported, so a script that builds the same layers in the same order gets the same weights
every run. Pass your own ``rng=np.random.default_rng(seed)`` to make a model's weights independent of what
was built before it.
"""
from __future__ import annotations

import math

import numpy as np

default_generator = np.random.default_rng(0)


def _rng(rng):
    return default_generator if rng is None else rng


def fan_in_and_fan_out(shape: tuple) -> tuple:
    """For a weight (out, in, *kernel): fan_in = in·∏kernel, fan_out = out·∏kernel (as PyTorch)."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform(shape, low: float, high: float, rng=None, dtype=np.float32) -> np.ndarray:
    return _rng(rng).uniform(low, high, size=shape).astype(dtype)


def kaiming_uniform(shape, a: float = 0.0, rng=None, dtype=np.float32) -> np.ndarray:
    """U(−b, b) with b = gain·√(3 / fan_in), gain = √(2 / (1 + a²)) (He et al. 2015).
    With a = √5 this is PyTorch's default for Linear and Conv2d weights: b = 1/√fan_in."""
    fan_in, _ = fan_in_and_fan_out(shape)
    bound = math.sqrt(2.0 / (1 + a * a)) * math.sqrt(3.0 / fan_in)
    return uniform(shape, -bound, bound, rng, dtype)


def kaiming_normal(shape, rng=None, dtype=np.float32) -> np.ndarray:
    """N(0, 2 / fan_in), He et al. 2015, for ReLU networks."""
    fan_in, _ = fan_in_and_fan_out(shape)
    return (_rng(rng).standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(dtype)


def xavier_uniform(shape, gain: float = 1.0, rng=None, dtype=np.float32) -> np.ndarray:
    """U(−b, b), b = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -bound, bound, rng, dtype)
