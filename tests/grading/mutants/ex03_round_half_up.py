"""Mistake: school rounding `floor(x + 0.5)` (halves up) instead of Python's round, which rounds halves to even:
0.25 * 10 = 2.5 must give 2, as PyTorch."""
import math
import numbers


def nparams_to_prune(amount, size):
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"amount={amount} is larger than size={size}")
        return int(amount)
    return math.floor(amount * size + 0.5)
