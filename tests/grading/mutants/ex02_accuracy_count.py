"""Mistake: returning the number of correct predictions instead of the fraction (forgetting to divide by N)."""

import numpy as np


def accuracy(logits, targets):
    return float(np.sum(np.argmax(logits, axis=1) == targets))
