"""Mistake: p is clipped at 1 but not at 0 (min(1, p) only): before ``begin`` the sparsity drops below the
initial value."""


def polynomial_decay_sparsity(step, initial, final, begin, end, power=3):
    p = min(1.0, (step - begin) / (end - begin))
    return final + (initial - final) * (1.0 - p) ** power
