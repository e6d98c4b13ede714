"""Mistake: the wrong sign of the update, δ = +(w_q / [H⁻¹]_qq) H⁻¹[:, q], which doubles w_q instead of zeroing it."""
import numpy as np


def obs_update(w, hinv, q):
    rows = np.arange(len(w))
    w_q, hinv_qq = w[rows, q], hinv[rows, q, q]
    return w_q ** 2 / (2 * hinv_qq), (w_q / hinv_qq)[:, None] * hinv[rows, :, q]
