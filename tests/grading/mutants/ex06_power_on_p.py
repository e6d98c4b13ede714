"""Mistake: the power applied to p instead of to (1 − p): s = final + (initial − final)(1 − p^power), which
prunes slowly first and fast at the end — the opposite of gradual magnitude pruning."""


def polynomial_decay_sparsity(step, initial, final, begin, end, power=3):
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return final + (initial - final) * (1.0 - p ** power)
