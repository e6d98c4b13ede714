"""Mistake: no special case for an empty batch: the mean of zero comparisons is NaN (with a RuntimeWarning),
not the documented 0."""

import numpy as np


def accuracy(logits, targets):
    return float(np.mean(np.argmax(logits, axis=1) == targets))
