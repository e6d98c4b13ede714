"""Mistake: Nesterov's look-ahead computed with the buffer of the *previous* step (d = g + μ·b_old), i.e. before
the buffer is updated with the current gradient; PyTorch uses the updated buffer."""

import numpy as np


def sgd_step(param, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    d = grad + weight_decay * param
    if momentum:
        buf = state.get("momentum_buffer")
        old = np.zeros_like(d) if buf is None else buf.copy()
        if buf is None:
            buf = state["momentum_buffer"] = np.array(d, copy=True)
        else:
            buf *= momentum
            buf += (1 - dampening) * d
        d = d + momentum * old if nesterov else buf
    param -= lr * d
