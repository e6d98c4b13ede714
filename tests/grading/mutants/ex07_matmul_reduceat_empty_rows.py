"""Mistake: np.add.reduceat over every row start, empty rows included (clipped to stay in range). For equal
consecutive starts reduceat returns a single product instead of 0, so an empty row gets its neighbour's value
and the row before it loses that product."""
import numpy as np


def csr_matmul(values, col_idx, row_ptr, b):
    b = np.asarray(b)
    products = values.reshape((-1,) + (1,) * (b.ndim - 1)) * b[col_idx]
    rows = len(row_ptr) - 1
    if len(values) == 0:
        return np.zeros((rows,) + b.shape[1:], dtype=np.result_type(values, b))
    starts = np.minimum(row_ptr[:-1], len(values) - 1)
    return np.add.reduceat(products, starts, axis=0)
