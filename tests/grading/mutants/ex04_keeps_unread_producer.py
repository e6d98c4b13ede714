"""Mistake: only dead neurons (zero rows of w1) are removed; a channel that nobody reads (a zero column of w2,
pruned on the consumer's dim 1) keeps its producer row and bias, so the model does not shrink there."""
import numpy as np


def compact_pair(w1, b1, w2, b2, activation=None, can_fold=True):
    activation = (lambda v: np.maximum(v, 0)) if activation is None else activation
    channels = w1.shape[0]
    w2_blocks = w2.reshape(w2.shape[0], channels, -1)
    dead = np.all(w1.reshape(channels, -1) == 0, axis=1)
    bias1 = np.zeros(channels, dtype=w1.dtype) if b1 is None else b1
    value = activation(bias1)
    folded = dead & (can_fold | (value == 0))
    keep = ~folded
    contribution = w2_blocks.sum(axis=2) @ (value * folded)
    new_b2 = None if b2 is None and not np.any(contribution) else (0 if b2 is None else b2) + contribution
    return keep, w1[keep], None if b1 is None else b1[keep], w2[:, keep], new_b2
