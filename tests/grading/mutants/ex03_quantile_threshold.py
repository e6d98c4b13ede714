"""Mistake: `np.quantile(|w|, amount)` — it interpolates between entries, so it is not the k-th smallest |w| with
k = round(amount * N) and prunes a different number of weights."""
import numpy as np


def global_magnitude_threshold(weights, amount):
    pooled = np.concatenate([np.abs(np.ravel(w)) for w in weights])
    return float(np.quantile(pooled, amount)) if amount else 0.0
