"""Mistake: dividing by ‖x_in‖‖x_out‖ without guarding zero vectors — a dead (all-zero) representation gives
0/0 = nan instead of the documented distance 0.5."""
import numpy as np


def angular_distance(inputs, outputs):
    a = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    b = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        return float(np.mean(np.arccos(np.clip(cosine, -1.0, 1.0)) / np.pi))
