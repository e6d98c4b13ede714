"""Mistake: adding weight decay after the momentum buffer (d = b + λθ, b built from the raw gradient) instead of
before it, as PyTorch does (d = g + λθ goes into the buffer)."""

import numpy as np


def sgd_step(param, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    d = grad
    if momentum:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = np.array(d, copy=True)
        else:
            buf *= momentum
            buf += (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    param -= lr * (d + weight_decay * param)
