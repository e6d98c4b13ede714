"""Mistake: forgetting to divide the angle by π — distances in radians, in [0, π] instead of [0, 1]."""
import numpy as np


def angular_distance(inputs, outputs):
    a = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    b = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)
    return float(np.mean(np.arccos(np.clip(cosine, -1.0, 1.0))))
