"""Mistake: ignoring `can_fold=False` — removing a dead channel with a non-zero constant anyway (the caller says
folding is impossible, e.g. the consumer is a zero-padded conv whose borders would then differ)."""
import numpy as np


def compact_pair(w1, b1, w2, b2, activation=None, can_fold=True):
    activation = (lambda v: np.maximum(v, 0)) if activation is None else activation
    channels = w1.shape[0]
    w2_blocks = w2.reshape(w2.shape[0], channels, -1)
    unread = np.all(w2_blocks == 0, axis=(0, 2))
    dead = np.all(w1.reshape(channels, -1) == 0, axis=1)
    bias1 = np.zeros(channels, dtype=w1.dtype) if b1 is None else b1
    value = activation(bias1)
    folded = dead & ~unread
    keep = ~(unread | folded)
    contribution = w2_blocks.sum(axis=2) @ (value * folded)
    new_b2 = None if b2 is None and not np.any(contribution) else (0 if b2 is None else b2) + contribution
    return keep, w1[keep], None if b1 is None else b1[keep], w2[:, keep], new_b2
