"""Mistake: a linear ramp, ignoring ``power`` (s = final + (initial − final) · (1 − p))."""


def polynomial_decay_sparsity(step, initial, final, begin, end, power=3):
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return final + (initial - final) * (1.0 - p)
