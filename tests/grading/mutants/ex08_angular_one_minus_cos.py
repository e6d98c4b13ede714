"""Mistake: using the cosine distance 1 − cos instead of the angle arccos(cos)/π (it agrees at 0°, 90° and, up to a
factor 2, at 180°, but it is not the angular distance of Gromov et al.)."""
import numpy as np


def angular_distance(inputs, outputs):
    a = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    b = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)
    return float(np.mean(1 - cosine))
