"""Mistake: using the mean absolute activation of each input feature instead of its L2 norm ‖X_j‖₂ — a feature
that fires rarely but strongly is undervalued."""
import numpy as np


def wanda_mask(weight, inputs, sparsity=0.5):
    x = np.asarray(inputs, dtype=np.float64).reshape(-1, np.shape(inputs)[-1])
    scores = np.abs(np.asarray(weight, dtype=np.float64)) * np.abs(x).mean(axis=0)[None, :]
    k = round(sparsity * scores.shape[1])
    mask = np.ones_like(scores, dtype=np.float32)
    np.put_along_axis(mask, np.argsort(scores, axis=1, kind="stable")[:, :k], 0.0, axis=1)
    return mask
