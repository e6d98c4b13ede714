"""Mistake: averaging the cosines over samples before taking arccos — arccos(mean cos) is not the mean angle
(arccos is not linear)."""
import numpy as np


def angular_distance(inputs, outputs):
    a = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    b = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)
    return float(np.arccos(np.clip(cosine.mean(), -1.0, 1.0)) / np.pi)
