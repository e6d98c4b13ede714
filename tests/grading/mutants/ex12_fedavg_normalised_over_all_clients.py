"""Mistake: skipping bad clients but still dividing by the total size of *all* clients, so the skipped clients'
share silently shrinks the global model towards zero."""
import warnings

import numpy as np

from minprune.federated import _problem


def fedavg(client_states, client_sizes, reference=None):
    total = float(np.sum(client_sizes))
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
    return {key: sum(n / total * np.asarray(s[key], dtype=np.float64) for n, s in zip(sizes, valid))
            .astype(np.asarray(valid[0][key]).dtype) for key in valid[0]}
