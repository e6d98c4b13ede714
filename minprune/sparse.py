"""Sparse storage formats and a sparse matrix product: what it takes for zeros to save memory and time.

A pruned weight is still a dense array full of zeros: it takes as many bytes and as many multiply-adds as
before. To profit from unstructured sparsity, the zeros must be *left out* — stored in a format that keeps only
the non-zero entries, and multiplied by a kernel that skips the rest. Two formats (Han et al. 2016, "Deep
Compression" §2, store pruned networks in CSR/CSC, with relative indices to save bits):

**CSR** (compressed sparse row), for a matrix A of shape (rows, cols) with nnz non-zeros::

    values  (nnz,)      the non-zero entries, row after row (left to right within a row)   value dtype
    col_idx (nnz,)      the column of each value                                            int32
    row_ptr (rows + 1,) row r's entries are values[row_ptr[r]:row_ptr[r + 1]]; row_ptr[0] = 0   int32

    A = [[0, 5, 0],      values  = [5, 1, 2]
         [0, 0, 0],      col_idx = [1, 0, 2]
         [1, 0, 2]]      row_ptr = [0, 1, 1, 3]   (row 1 is empty: 1 → 1)

    bytes = nnz · (value bytes + 4) + (rows + 1) · 4.

With float32 values each kept weight costs 8 bytes instead of 4, so CSR is *smaller* than dense only past 50 %
sparsity. **Bitmask**: one bit per entry (1 = non-zero) plus the non-zero values, in row-major order::

    bytes = ceil(rows · cols / 8) + nnz · value bytes,

smaller than dense as soon as more than 1/32 of the entries (float32) are zero, but it has no row structure
to multiply with directly (it is a storage format; decode it to multiply).

A weight of higher rank (a Conv2d filter bank (out, in, kh, kw)) is stored as its 2-D view (out, in·kh·kw):
one row per output channel, as im2col multiplies it.

:func:`csr_matmul` is a vectorized CSR × dense product (no Python loop over rows); :class:`SparseLinear` is an
inference-only layer that runs it; :func:`sparsify` swaps a model's Linear layers for SparseLinear. Whether
it is faster than the dense GEMM depends on the sparsity and the machine: lesson 07 and
``benchmarks/bench_sparse.py`` measure the crossover.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from . import nn
from .nn.module import Module
from .tensor import Tensor

#: Bytes of one CSR index (col_idx and row_ptr entries are int32).
INDEX_BYTES = 4


def _as_array(w) -> np.ndarray:
    return w.data if isinstance(w, Tensor) else np.asarray(w)


def _matrix_view(w: np.ndarray, what: str = "w") -> np.ndarray:
    """The 2-D view (rows, cols) of a weight: (out, in) stays, (out, in, kh, kw) becomes (out, in·kh·kw)."""
    if w.ndim < 2:
        raise ValueError(f"{what} must have at least 2 dims (a matrix or a conv filter bank), got shape {w.shape}")
    return w.reshape(w.shape[0], int(np.prod(w.shape[1:], dtype=np.int64)))  # -1 fails for zero-size arrays


# --------------------------------------------------------------------------------------------------- CSR
def csr_from_dense(w: np.ndarray):
    """The CSR arrays ``(values, col_idx, row_ptr)`` of a matrix ``w`` of shape (rows, cols).

    values: (nnz,) the non-zero entries of ``w`` in row-major order (row 0 left to right, then row 1, …),
    ``w``'s dtype; col_idx: (nnz,) int32, the column of each value; row_ptr: (rows + 1,) int32 with
    ``row_ptr[0] = 0`` and ``row_ptr[r + 1] - row_ptr[r]`` = the number of non-zeros in row r, so row r's
    entries are ``values[row_ptr[r]:row_ptr[r + 1]]``. An empty row repeats the previous pointer.
    Storage: ``nnz · (w.itemsize + 4) + (rows + 1) · 4`` bytes — the int32 index dtype is part of the format.

    Example: [[0, 5, 0], [0, 0, 0], [1, 0, 2]] → values [5, 1, 2], col_idx [1, 0, 2], row_ptr [0, 1, 1, 3].
    """
    # BEGIN SOLUTION
    w = np.asarray(w)
    rows, cols = np.nonzero(w)  # row-major order: sorted by row, then by column
    values = w[rows, cols]
    row_ptr = np.zeros(w.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.count_nonzero(w, axis=1), out=row_ptr[1:])
    return values, cols.astype(np.int32), row_ptr
    # END SOLUTION


def csr_matmul(values: np.ndarray, col_idx: np.ndarray, row_ptr: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A @ b`` for a CSR matrix A = (values, col_idx, row_ptr) and a dense ``b``, without a loop over rows.

    Shapes: A (rows, cols) with rows = len(row_ptr) − 1; b (cols,) or (cols, k) → (rows,) or (rows, k).

    Three vectorized steps, each touching only the nnz stored entries (for each of the k columns of b):

    1. gather:   the entry of b that each stored value multiplies, ``b[col_idx]``;
    2. multiply: by ``values``;
    3. reduce:   sum the products of each row with ``np.add.reduceat(products, starts)``, which adds
       ``products[starts[j]:starts[j + 1]]`` (the last slice runs to the end).

    ``reduceat`` has a trap for empty rows: for equal consecutive indices (``starts[j] == starts[j + 1]``) it
    returns ``products[starts[j]]`` instead of 0, and an index equal to nnz (trailing empty rows) is out of
    bounds. So reduce over the non-empty rows only — their starts are strictly increasing and each slice then
    covers exactly that row's entries, since the empty rows in between own none — and leave empty rows at 0.

    Memory layout matters as much as arithmetic here: the products are laid out (k, nnz), so that the gather
    (``np.take`` along the last axis) and the segment sums run along contiguous memory. When ``b`` is the
    transpose of a C-ordered batch x (N, cols) — as in ``SparseLinear``, which computes (A @ xᵀ)ᵀ — ``b.T`` is
    x itself, no copy. (The (nnz, k) layout with ``reduceat(axis=0)`` gives the same numbers ~30× slower.)
    Cost: O(nnz · k) multiply-adds instead of rows · cols · k.
    """
    # BEGIN SOLUTION
    b = np.asarray(b)
    rows, k = len(row_ptr) - 1, int(np.prod(b.shape[1:], dtype=np.int64))
    products = np.take(b.reshape(b.shape[0], k).T, col_idx, axis=1)   # (k, nnz), a fresh array
    products *= values                                                  # broadcast over the k rows
    out = np.zeros((k, rows), dtype=np.result_type(values, b))
    nonempty = row_ptr[:-1] < row_ptr[1:]
    out[:, nonempty] = np.add.reduceat(products, row_ptr[:-1][nonempty], axis=1)
    return out.T.reshape((rows,) + b.shape[1:])
    # END SOLUTION


def csr_nbytes(rows: int, nnz: int, value_bytes: int = 4) -> int:
    """Bytes of a CSR matrix with ``rows`` rows and ``nnz`` non-zeros: values + int32 col_idx + int32 row_ptr,
    ``nnz · (value_bytes + 4) + (rows + 1) · 4``."""
    return nnz * (value_bytes + INDEX_BYTES) + (rows + 1) * INDEX_BYTES


def bitmask_nbytes(size: int, nnz: int, value_bytes: int = 4) -> int:
    """Bytes of the bitmask format: one bit per entry (rounded up to whole bytes) + the non-zero values,
    ``ceil(size / 8) + nnz · value_bytes``."""
    return math.ceil(size / 8) + nnz * value_bytes


class CSRMatrix:
    """A weight in CSR form; ``to_dense()`` gives back exactly the original array (shape and dtype included;
    a −0.0 comes back as +0.0, which compares equal).

    ``CSRMatrix.from_dense(w)`` accepts a matrix (out, in) or a higher-rank weight (out, in, kh, kw), stored
    as its 2-D view (out, in·kh·kw). ``csr @ b`` multiplies by a dense (cols,) or (cols, k) array.
    Attributes: ``values``, ``col_idx``, ``row_ptr`` (see :func:`csr_from_dense`), ``shape`` (the original
    shape), ``matrix_shape`` (rows, cols), ``nnz``, ``nbytes``, ``density``.
    """

    def __init__(self, values, col_idx, row_ptr, shape):
        self.values, self.col_idx, self.row_ptr = values, col_idx, row_ptr
        self.shape = tuple(shape)
        self.matrix_shape = (self.shape[0], int(np.prod(self.shape[1:], dtype=np.int64)))
        if len(row_ptr) != self.matrix_shape[0] + 1:
            raise ValueError(f"row_ptr must have rows + 1 = {self.matrix_shape[0] + 1} entries for shape "
                             f"{self.shape}, got {len(row_ptr)}")

    @classmethod
    def from_dense(cls, w) -> CSRMatrix:
        w = _as_array(w)
        matrix = _matrix_view(w)
        if np.count_nonzero(matrix) >= 2 ** 31:
            raise ValueError(f"a CSR matrix with int32 indices holds fewer than 2**31 non-zeros; w has "
                             f"{np.count_nonzero(matrix)}")
        return cls(*csr_from_dense(matrix), w.shape)

    @property
    def nnz(self) -> int:
        return len(self.values)

    @property
    def density(self) -> float:
        size = self.matrix_shape[0] * self.matrix_shape[1]
        return self.nnz / size if size else 0.0

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + self.col_idx.nbytes + self.row_ptr.nbytes

    def to_dense(self) -> np.ndarray:
        rows, cols = self.matrix_shape
        dense = np.zeros((rows, cols), dtype=self.values.dtype)
        # the row of each stored entry: row r repeated (row_ptr[r + 1] − row_ptr[r]) times
        row_of = np.repeat(np.arange(rows), np.diff(self.row_ptr))
        dense[row_of, self.col_idx] = self.values
        return dense.reshape(self.shape)

    def __matmul__(self, b):
        return csr_matmul(self.values, self.col_idx, self.row_ptr, _as_array(b))

    def __repr__(self):
        return (f"CSRMatrix(shape={self.shape}, nnz={self.nnz}, density={self.density:.3f}, "
                f"nbytes={self.nbytes})")


class BitmaskMatrix:
    """A weight as a bitmask (1 bit per entry, ``np.packbits``) plus its non-zero values in row-major order.

    ``BitmaskMatrix.from_dense(w)`` works for any shape; ``to_dense()`` restores ``w`` exactly (a −0.0 comes
    back as +0.0, which compares equal). Attributes: ``bits`` (uint8, ceil(size/8) bytes), ``values``,
    ``shape``, ``nnz``, ``nbytes``.
    """

    def __init__(self, bits, values, shape):
        self.bits, self.values, self.shape = bits, values, tuple(shape)

    @classmethod
    def from_dense(cls, w) -> BitmaskMatrix:
        w = _as_array(w)
        nonzero = w != 0
        return cls(np.packbits(nonzero, axis=None), w[nonzero], w.shape)

    @property
    def nnz(self) -> int:
        return len(self.values)

    @property
    def nbytes(self) -> int:
        return self.bits.nbytes + self.values.nbytes

    def to_dense(self) -> np.ndarray:
        size = int(np.prod(self.shape, dtype=np.int64))
        nonzero = np.unpackbits(self.bits, count=size).astype(bool).reshape(self.shape)
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        dense[nonzero] = self.values
        return dense

    def __repr__(self):
        return f"BitmaskMatrix(shape={self.shape}, nnz={self.nnz}, nbytes={self.nbytes})"


# --------------------------------------------------------------------------------------------------- layers
class SparseLinear(Module):
    """Inference-only Linear layer that stores its weight in CSR and multiplies with :func:`csr_matmul`.

    ``SparseLinear.from_linear(linear)`` takes a plain or pruned ``nn.Linear`` (its *effective* weight,
    ``weight_orig · weight_mask``). Forward: x (..., in_features) → (..., out_features), y = x Wᵀ + b computed
    as ``(W @ xᵀ)ᵀ`` with W in CSR. No gradient flows through it (the output never requires grad): train the
    dense, masked model, then convert it for deployment.
    """

    def __init__(self, weight: CSRMatrix, bias: np.ndarray | None = None):
        super().__init__()
        if len(weight.shape) != 2:
            raise ValueError(f"SparseLinear needs a 2-D (out, in) weight, got shape {weight.shape}")
        self.out_features, self.in_features = weight.shape
        self.weight_csr = weight
        self.bias = None if bias is None else np.asarray(bias)  # a plain array: nothing here is trained

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> SparseLinear:
        from .prune.base import current_value  # orig · mask for a pruned layer, recomputed (never stale)

        if not isinstance(linear, nn.Linear):
            raise TypeError(f"SparseLinear.from_linear expects an nn.Linear, got {type(linear).__name__}")
        weight = current_value(linear, "weight")
        bias = None if getattr(linear, "bias", None) is None else current_value(linear, "bias")
        return cls(CSRMatrix.from_dense(weight), None if bias is None else np.array(bias, copy=True))

    def forward(self, x):
        x = _as_array(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input with last dim (in_features) = {self.in_features}, "
                             f"got shape {x.shape}")
        x2 = x.reshape(-1, self.in_features)
        y = (self.weight_csr @ x2.T).T  # x2.T is a view: csr_matmul gathers from x2's contiguous rows
        if self.bias is not None:
            y = y + self.bias
        return Tensor(y.reshape(x.shape[:-1] + (self.out_features,)))

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"nnz={self.weight_csr.nnz}, density={self.weight_csr.density:.3f}")


def sparsify(model: Module, min_sparsity: float = 0.0) -> Module:
    """A copy of ``model`` whose Linear layers (pruned or not) are :class:`SparseLinear` (CSR kernel).

    Outputs equal the original's to float rounding (the sums are taken in another order). Only layers with at
    least ``min_sparsity`` zeros in their weight are converted: a CSR product beats the dense GEMM only past
    a crossover sparsity that you measure on your machine (lesson 07). Conv2d layers stay dense. The copy is
    for inference (no gradients through SparseLinear); ``model`` is not modified.
    """
    if not 0.0 <= min_sparsity <= 1.0:
        raise ValueError(f"sparsify: min_sparsity must be in [0, 1], got {min_sparsity!r}")
    from .prune.base import current_value

    def sparse_enough(linear):
        weight = current_value(linear, "weight")
        zeros = 1.0 - np.count_nonzero(weight) / weight.size if weight.size else 0.0
        return zeros >= min_sparsity

    if isinstance(model, nn.Linear):
        return SparseLinear.from_linear(model) if sparse_enough(model) else copy.deepcopy(model)
    new = copy.deepcopy(model)
    for parent in list(new.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and sparse_enough(child):
                parent._modules[name] = SparseLinear.from_linear(child)
    return new
