"""Mistake: deciding count vs fraction by value (`amount <= 1` is a fraction) instead of by type, so the int 1
prunes everything instead of one entry."""


def nparams_to_prune(amount, size):
    if amount <= 1:
        return round(amount * size)
    if amount > size:
        raise ValueError(f"amount={amount} is larger than size={size}")
    return int(amount)
