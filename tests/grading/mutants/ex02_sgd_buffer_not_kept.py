"""Mistake: the momentum buffer is a local variable that starts from the current gradient at every call, instead
of living in ``state["momentum_buffer"]`` between steps, so momentum never accumulates (plain SGD)."""

import numpy as np


def sgd_step(param, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    d = grad + weight_decay * param
    if momentum:
        buf = np.array(d, copy=True)
        d = d + momentum * buf if nesterov else buf
    param -= lr * d
