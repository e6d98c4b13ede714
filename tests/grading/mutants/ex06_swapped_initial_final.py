"""Mistake: initial and final swapped in the formula (s = initial + (final − initial)(1 − p)^power), so the
schedule starts at the final sparsity."""


def polynomial_decay_sparsity(step, initial, final, begin, end, power=3):
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return initial + (final - initial) * (1.0 - p) ** power
