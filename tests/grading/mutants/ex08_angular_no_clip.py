"""Mistake: no clipping of the cosine to [−1, 1] — rounding makes ⟨x, x⟩/(‖x‖‖x‖) slightly above 1 for some
vectors, and arccos of that is nan: a block that changes nothing gets distance nan instead of 0."""
import numpy as np


def angular_distance(inputs, outputs):
    a = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    b = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)
    with np.errstate(invalid="ignore"):
        return float(np.mean(np.arccos(cosine) / np.pi))
