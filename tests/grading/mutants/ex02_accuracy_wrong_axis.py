"""Mistake: ``argmax(logits, axis=0)``, the best *sample* for each class, instead of the predicted class of each
sample (``axis=1``, along the classes)."""

import numpy as np


def accuracy(logits, targets):
    if len(targets) == 0:
        return 0.0
    return float(np.mean(np.argmax(logits, axis=0) == targets))
