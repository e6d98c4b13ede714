"""Mistake: dampening the very first step too (b = (1 − τ)·d when the buffer is created); PyTorch starts the
buffer at b = d and dampens only later steps."""

import numpy as np


def sgd_step(param, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    d = grad + weight_decay * param
    if momentum:
        buf = state.setdefault("momentum_buffer", np.zeros_like(param))
        buf *= momentum
        buf += (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    param -= lr * d
