"""Mistake: summing the gathered entries of b without multiplying them by the stored values — the product
of the sparsity *pattern* (a 0/1 matrix) with b, not of the matrix itself."""
import numpy as np


def csr_matmul(values, col_idx, row_ptr, b):
    b = np.asarray(b)
    rows = len(row_ptr) - 1
    products = b[col_idx]
    out = np.zeros((rows,) + b.shape[1:], dtype=np.result_type(values, b))
    nonempty = row_ptr[:-1] < row_ptr[1:]
    out[nonempty] = np.add.reduceat(products, row_ptr[:-1][nonempty], axis=0)
    return out
