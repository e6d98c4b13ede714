"""Mistake: multiplying |W_ij| by the norm of W's own column j, ‖W_:,j‖, instead of the norm of input feature j
over the calibration tokens, ‖X_j‖ — the activations never enter."""
import numpy as np


def wanda_mask(weight, inputs, sparsity=0.5):
    w = np.abs(np.asarray(weight, dtype=np.float64))
    scores = w * np.linalg.norm(w, axis=0)[None, :]
    k = round(sparsity * w.shape[1])
    mask = np.ones_like(w, dtype=np.float32)
    np.put_along_axis(mask, np.argsort(scores, axis=1, kind="stable")[:, :k], 0.0, axis=1)
    return mask
