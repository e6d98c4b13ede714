"""Mistake: not flattening per sample — one angle between the whole input batch and the whole output batch
(everything raveled into one vector), so large samples dominate and per-sample angles are never averaged."""
import numpy as np


def angular_distance(inputs, outputs):
    a = np.ravel(np.asarray(inputs, dtype=np.float64))
    b = np.ravel(np.asarray(outputs, dtype=np.float64))
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    cosine = a @ b / norms if norms > 0 else 0.0
    return float(np.arccos(np.clip(cosine, -1.0, 1.0)) / np.pi)
