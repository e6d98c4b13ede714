"""Mistake: comparing the Wanda scores of the whole layer at once (one global threshold) instead of within each
output row, so rows with small weights lose far more than their share."""
import numpy as np


def wanda_mask(weight, inputs, sparsity=0.5):
    x = np.asarray(inputs, dtype=np.float64).reshape(-1, np.shape(inputs)[-1])
    scores = np.abs(np.asarray(weight, dtype=np.float64)) * np.sqrt((x ** 2).sum(axis=0))[None, :]
    k = round(sparsity * scores.size)
    mask = np.ones(scores.size, dtype=np.float32)
    mask[np.argsort(scores, axis=None, kind="stable")[:k]] = 0.0
    return mask.reshape(scores.shape)
