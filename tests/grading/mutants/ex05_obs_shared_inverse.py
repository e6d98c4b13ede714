"""Mistake: using the first row's inverse Hessian for every row (``hinv[0]``), although each output row has its
own (in obs_prune_rows they differ as soon as rows have removed different weights)."""
import numpy as np


def obs_update(w, hinv, q):
    rows = np.arange(len(w))
    shared = hinv[0]
    w_q, hinv_qq = w[rows, q], shared[q, q]
    return w_q ** 2 / (2 * hinv_qq), -(w_q / hinv_qq)[:, None] * shared[:, q].T
