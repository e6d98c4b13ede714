"""Mistake: using the Hessian's diagonal where OBS needs the inverse Hessian's: the OBD saliency ½ H_qq w_q²
(H recovered by inverting ``hinv``), which ignores the correlations OBS compensates for."""
import numpy as np


def obs_update(w, hinv, q):
    rows = np.arange(len(w))
    h = np.linalg.inv(hinv)
    w_q, hinv_qq = w[rows, q], hinv[rows, q, q]
    return 0.5 * h[rows, q, q] * w_q ** 2, -(w_q / hinv_qq)[:, None] * hinv[rows, :, q]
