"""Mistake: folding the dead neuron's raw bias b1[c] into b2 instead of activation(b1[c]) — wrong whenever the bias
is negative (ReLU would have output 0)."""
import numpy as np


def compact_pair(w1, b1, w2, b2, activation=None, can_fold=True):
    channels = w1.shape[0]
    w2_blocks = w2.reshape(w2.shape[0], channels, -1)
    unread = np.all(w2_blocks == 0, axis=(0, 2))
    dead = np.all(w1.reshape(channels, -1) == 0, axis=1)
    bias1 = np.zeros(channels, dtype=w1.dtype) if b1 is None else b1
    folded = dead & ~unread & can_fold
    keep = ~(unread | folded)
    contribution = w2_blocks.sum(axis=2) @ (bias1 * folded)
    new_b2 = None if b2 is None and not np.any(contribution) else (0 if b2 is None else b2) + contribution
    return keep, w1[keep], None if b1 is None else b1[keep], w2[:, keep], new_b2
