"""Mistake: a plain mean of the client states, ignoring how many samples each client trained on."""
import warnings

import numpy as np

from minprune.federated import _problem


def fedavg(client_states, client_sizes, reference=None):
    valid = []
    for k, state in enumerate(client_states):
        problem = _problem(state, reference)
        if problem:
            warnings.warn(f"fedavg: skipping client {k}: {problem}", RuntimeWarning)
            continue
        valid.append(state)
    if not valid:
        raise ValueError("fedavg: no valid client update to average")
    return {key: np.mean([np.asarray(s[key], dtype=np.float64) for s in valid], axis=0)
            .astype(np.asarray(valid[0][key]).dtype) for key in valid[0]}
