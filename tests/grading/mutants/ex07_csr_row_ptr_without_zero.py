"""Mistake: row_ptr as the plain cumulative count of non-zeros per row (length rows), without the leading 0,
so row r's entries can no longer be read as values[row_ptr[r]:row_ptr[r + 1]]."""
import numpy as np


def csr_from_dense(w):
    w = np.asarray(w)
    rows, cols = np.nonzero(w)
    row_ptr = np.cumsum(np.count_nonzero(w, axis=1)).astype(np.int32)
    return w[rows, cols], cols.astype(np.int32), row_ptr
