"""Mistake: ``param = param - lr * d`` rebinds the local name to a new array and returns it, so the caller's
parameter (the array the model holds) never changes."""

import numpy as np


def sgd_step(param, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    d = grad + weight_decay * param
    if momentum:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = np.array(d, copy=True)
        else:
            buf = state["momentum_buffer"] = momentum * buf + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    param = param - lr * d
    return param
