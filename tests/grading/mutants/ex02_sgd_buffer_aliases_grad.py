"""Mistake: the first step stores the gradient array itself as the momentum buffer (b = d without a copy); the
in-place update of the buffer at the next step then overwrites the caller's gradient."""


def sgd_step(param, grad, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    d = grad + weight_decay * param if weight_decay else grad
    if momentum:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = d
        else:
            buf *= momentum
            buf += (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    param -= lr * d
