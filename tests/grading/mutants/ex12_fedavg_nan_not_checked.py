"""Mistake: checking that each update has the right keys and shapes but not that its values are finite — one
client's NaN poisons the global model."""
import warnings

import numpy as np


def fedavg(client_states, client_sizes, reference=None):
    valid, sizes = [], []
    for k, (state, size) in enumerate(zip(client_states, client_sizes)):
        if state is None or (reference is not None and (
                set(state) != set(reference)
                or any(np.shape(state[key]) != np.shape(reference[key]) for key in state))):
            warnings.warn(f"fedavg: skipping client {k}", RuntimeWarning)
            continue
        valid.append(state)
        sizes.append(float(size))
    if not valid:
        raise ValueError("fedavg: no valid client update to average")
    weights = np.asarray(sizes) / np.sum(sizes)
    return {key: sum(w * np.asarray(s[key], dtype=np.float64) for w, s in zip(weights, valid))
            .astype(np.asarray(valid[0][key]).dtype) for key in valid[0]}
