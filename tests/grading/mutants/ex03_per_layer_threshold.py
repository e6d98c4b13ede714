"""Mistake: computing a threshold per layer (local pruning) and averaging them, instead of pooling every weight of
every layer into one ranking."""
import numpy as np

from minprune.prune.base import nparams_to_prune


def global_magnitude_threshold(weights, amount):
    thresholds = []
    for w in weights:
        flat = np.sort(np.abs(np.ravel(w)))
        k = nparams_to_prune(amount, flat.size)
        thresholds.append(flat[k - 1] if k else 0.0)
    return float(np.mean(thresholds))
