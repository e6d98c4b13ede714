"""Mistake: p = step / end, forgetting that the ramp starts at ``begin``."""


def polynomial_decay_sparsity(step, initial, final, begin, end, power=3):
    p = min(1.0, max(0.0, step / end))
    return final + (initial - final) * (1.0 - p) ** power
