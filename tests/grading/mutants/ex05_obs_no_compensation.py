"""Mistake: zeroing w_q without moving the other weights (δ = −w_q e_q, magnitude pruning's update), while
reporting the OBS saliency — the loss actually rises by ½ H_qq w_q², more than predicted."""
import numpy as np


def obs_update(w, hinv, q):
    rows = np.arange(len(w))
    w_q, hinv_qq = w[rows, q], hinv[rows, q, q]
    delta = np.zeros_like(w, dtype=np.float64)
    delta[rows, q] = -w_q
    return w_q ** 2 / (2 * hinv_qq), delta
