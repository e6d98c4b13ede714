"""Mistake: `int(amount * size)` instead of Python's round — truncates 2.9 to 2 and 0.35 * 10 = 3.5000000000000004
to 3 (PyTorch uses round)."""
import numbers


def nparams_to_prune(amount, size):
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"amount={amount} is larger than size={size}")
        return int(amount)
    return int(amount * size)
