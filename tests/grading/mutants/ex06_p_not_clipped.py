"""Mistake: p = (step − begin) / (end − begin) is not clipped to [0, 1], so the schedule overshoots before
``begin`` and after ``end``."""


def polynomial_decay_sparsity(step, initial, final, begin, end, power=3):
    p = (step - begin) / (end - begin)
    return final + (initial - final) * (1.0 - p) ** power
