"""Mistake: accepting ``nesterov`` but always taking the heavy-ball step d = b (Nesterov's look-ahead
d = g + μb is never used)."""

import numpy as np


def sgd_step(param, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    d = grad + weight_decay * param
    if momentum:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = np.array(d, copy=True)
        else:
            buf *= momentum
            buf += (1 - dampening) * d
        d = buf
    param -= lr * d
