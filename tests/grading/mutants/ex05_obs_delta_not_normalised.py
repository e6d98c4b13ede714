"""Mistake: forgetting to divide the update by [H⁻¹]_qq, δ = −w_q H⁻¹[:, q], so w_q is not set to zero."""
import numpy as np


def obs_update(w, hinv, q):
    rows = np.arange(len(w))
    w_q, hinv_qq = w[rows, q], hinv[rows, q, q]
    return w_q ** 2 / (2 * hinv_qq), -w_q[:, None] * hinv[rows, :, q]
