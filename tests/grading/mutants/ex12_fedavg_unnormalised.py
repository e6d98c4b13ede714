"""Mistake: Σ n_k w_k without dividing by Σ n_k — the weights do not sum to one and the model blows up."""
import warnings

import numpy as np

from minprune.federated import _problem


def fedavg(client_states, client_sizes, reference=None):
    valid, sizes = [], []
    for k, (state, size) in enumerate(zip(client_states, client_sizes)):
        problem = _problem(state, reference)
        if problem:
            warnings.warn(f"fedavg: skipping client {k}: {problem}", RuntimeWarning)
            continue
        valid.append(state)
        sizes.append(float(size))
    if not valid:
        raise ValueError("fedavg: no valid client update to average")
    return {key: sum(n * np.asarray(s[key], dtype=np.float64) for n, s in zip(sizes, valid))
            .astype(np.asarray(valid[0][key]).dtype) for key in valid[0]}
