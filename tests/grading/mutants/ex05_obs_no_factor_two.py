"""Mistake: forgetting the factor 2 in the OBS saliency, w_q² / [H⁻¹]_qq instead of w_q² / (2 [H⁻¹]_qq)."""
import numpy as np


def obs_update(w, hinv, q):
    rows = np.arange(len(w))
    w_q, hinv_qq = w[rows, q], hinv[rows, q, q]
    return w_q ** 2 / hinv_qq, -(w_q / hinv_qq)[:, None] * hinv[rows, :, q]
