"""Mistake: forgetting the bias of a dead neuron — its row of w1 is zero, so it is removed, but its constant output
relu(b1[c]) times the consumer's column w2[:, c] is not folded into b2, which changes the outputs."""
import numpy as np


def compact_pair(w1, b1, w2, b2, activation=None, can_fold=True):
    channels = w1.shape[0]
    unread = np.all(w2.reshape(w2.shape[0], channels, -1) == 0, axis=(0, 2))
    dead = np.all(w1.reshape(channels, -1) == 0, axis=1)
    keep = ~(unread | (dead & can_fold))
    new_b1 = None if b1 is None else b1[keep]
    new_b2 = None if b2 is None else b2.copy()
    return keep, w1[keep], new_b1, w2[:, keep], new_b2
