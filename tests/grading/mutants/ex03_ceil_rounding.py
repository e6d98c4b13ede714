"""Mistake: `math.ceil(amount * size)` ("prune at least the fraction asked") instead of Python's round; 0.3 * 10 is
3.0000000000000004 in floating point, so ceil gives 4."""
import math
import numbers


def nparams_to_prune(amount, size):
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"amount={amount} is larger than size={size}")
        return int(amount)
    return math.ceil(amount * size)
