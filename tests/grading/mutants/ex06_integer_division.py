"""Mistake: integer division for p ((step − begin) // (end − begin)), which is 0 until the very end."""


def polynomial_decay_sparsity(step, initial, final, begin, end, power=3):
    p = min(1, max(0, (step - begin) // (end - begin)))
    return final + (initial - final) * (1 - p) ** power
