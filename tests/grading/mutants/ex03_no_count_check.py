"""Mistake: an int amount larger than the number of entries is silently accepted instead of raising ValueError."""
import numbers


def nparams_to_prune(amount, size):
    if isinstance(amount, numbers.Integral):
        return int(amount)
    return round(amount * size)
