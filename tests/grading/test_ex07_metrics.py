"""Graders of exercise 07: global sparsity, the CSR format (and its size), the CSR matrix product.

Every expected value is computed here independently: by hand, or by explicit loops over rows and columns.
The CSR arrays given to ``csr_matmul`` are built by such a loop too, so part 3 does not depend on part 2.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ex07

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)


def naive_csr(a):
    """CSR by the definition: walk the rows, left to right, and note every non-zero."""
    values, cols, ptr = [], [], [0]
    for row in a:
        for j, v in enumerate(row):
            if v != 0:
                values.append(v)
                cols.append(j)
        ptr.append(len(values))
    return np.array(values, dtype=a.dtype), np.array(cols, dtype=np.int32), np.array(ptr, dtype=np.int32)


def random_sparse(shape, density, seed, dtype=np.float32):
    g = np.random.default_rng(seed)
    a = g.standard_normal(shape).astype(dtype)
    a[g.random(shape) >= density] = 0
    return a


# ---------------------------------------------------------------------------------------------- 07.1 sparsity_of
def test_sparsity_of_single_array(impl):
    assert impl.sparsity_of([np.array([[0.0, 1.0], [2.0, 0.0]])]) == pytest.approx(0.5)
    assert impl.sparsity_of([np.zeros(7)]) == pytest.approx(1.0)
    assert impl.sparsity_of([np.ones((2, 3))]) == pytest.approx(0.0)


def test_sparsity_of_pools_the_entries_of_all_arrays(impl):
    """3 zeros of 4 and 0 zeros of 12: 3/16 of all weights are zero, not the mean (0.75 + 0) / 2."""
    small = np.array([[0.0, 0.0], [0.0, 1.0]])
    big = np.arange(1.0, 13.0).reshape(3, 4)
    assert impl.sparsity_of([small, big]) == pytest.approx(3 / 16)
    assert impl.sparsity_of([big, small]) == pytest.approx(3 / 16)


def test_sparsity_of_counts_only_exact_zeros(impl):
    """A tiny trained weight is not a pruned one; −0.0 is zero; NaN is not zero."""
    w = np.array([1e-12, -1e-30, 0.0, -0.0, np.nan, 3.0], dtype=np.float64)
    assert impl.sparsity_of([w]) == pytest.approx(2 / 6)


def test_sparsity_of_edge_cases(impl):
    assert impl.sparsity_of([]) == 0.0
    assert impl.sparsity_of([np.zeros((0, 5))]) == 0.0
    assert impl.sparsity_of([np.zeros((0, 5)), np.array([0.0, 2.0])]) == pytest.approx(0.5)
    result = impl.sparsity_of([np.zeros(4, dtype=np.float32), np.ones(4, dtype=np.float32)])
    assert isinstance(result, float) and result == pytest.approx(0.5)


def test_sparsity_of_accepts_any_iterable(impl):
    """The docstring allows any iterable: a generator can be walked only once."""
    arrays = [np.array([0.0, 1.0]), np.array([0.0, 0.0, 0.0, 4.0])]
    assert impl.sparsity_of(a for a in arrays) == pytest.approx(4 / 6)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(1, 6), st.sampled_from([0.0, 0.3, 0.8, 1.0])),
                min_size=1, max_size=4), st.integers(0, 1000))
def test_sparsity_of_matches_a_count(impl, specs, seed):
    arrays = [random_sparse((r, c), d, seed + i) for i, (r, c, d) in enumerate(specs)]
    zeros = sum(1 for a in arrays for v in a.ravel() if v == 0)
    total = sum(a.size for a in arrays)
    assert impl.sparsity_of(arrays) == pytest.approx(zeros / total if total else 0.0)


# ---------------------------------------------------------------------------------------------- 07.2 csr_from_dense
def test_csr_from_dense_docstring_example(impl):
    a = np.array([[0, 5, 0], [0, 0, 0], [1, 0, 2]], dtype=np.float32)
    values, col_idx, row_ptr = impl.csr_from_dense(a)
    np.testing.assert_array_equal(values, [5, 1, 2])
    np.testing.assert_array_equal(col_idx, [1, 0, 2])
    np.testing.assert_array_equal(row_ptr, [0, 1, 1, 3])


def test_csr_from_dense_values_in_row_major_order(impl):
    a = np.array([[0, 1, 2], [3, 0, 4]], dtype=np.float32)
    values, col_idx, row_ptr = impl.csr_from_dense(a)
    np.testing.assert_array_equal(values, [1, 2, 3, 4])
    np.testing.assert_array_equal(col_idx, [1, 2, 0, 2])
    np.testing.assert_array_equal(row_ptr, [0, 2, 4])


def test_csr_from_dense_keeps_negative_values(impl):
    a = np.array([[-1.5, 0.0], [0.0, -2.0]], dtype=np.float32)
    values, col_idx, row_ptr = impl.csr_from_dense(a)
    np.testing.assert_array_equal(values, [-1.5, -2.0])
    np.testing.assert_array_equal(col_idx, [0, 1])
    np.testing.assert_array_equal(row_ptr, [0, 1, 2])


def test_csr_from_dense_dtypes_and_size(impl):
    """int32 indices are part of the format: nnz · (value bytes + 4) + (rows + 1) · 4 bytes."""
    for dtype in (np.float32, np.float16):
        a = random_sparse((30, 40), 0.1, seed=1, dtype=dtype)
        values, col_idx, row_ptr = impl.csr_from_dense(a)
        assert values.dtype == dtype
        assert col_idx.dtype == np.int32 and row_ptr.dtype == np.int32
        nnz = int(np.count_nonzero(a))
        assert values.nbytes + col_idx.nbytes + row_ptr.nbytes == nnz * (a.itemsize + 4) + 31 * 4


def test_csr_from_dense_empty_rows_and_all_zero(impl):
    a = np.zeros((5, 3), dtype=np.float32)
    a[2, 1] = 7.0
    values, col_idx, row_ptr = impl.csr_from_dense(a)
    np.testing.assert_array_equal(values, [7.0])
    np.testing.assert_array_equal(col_idx, [1])
    np.testing.assert_array_equal(row_ptr, [0, 0, 0, 1, 1, 1])
    values, col_idx, row_ptr = impl.csr_from_dense(np.zeros((3, 4), dtype=np.float32))
    assert len(values) == 0 and len(col_idx) == 0
    np.testing.assert_array_equal(row_ptr, [0, 0, 0, 0])


@SETTINGS
@given(st.integers(1, 8), st.integers(1, 8), st.sampled_from([0.0, 0.2, 0.5, 1.0]), st.integers(0, 1000))
def test_csr_from_dense_matches_the_definition(impl, rows, cols, density, seed):
    a = random_sparse((rows, cols), density, seed)
    for got, expected in zip(impl.csr_from_dense(a), naive_csr(a)):
        np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------------------------------------- 07.3 csr_matmul
def test_csr_matmul_docstring_matrix(impl):
    a = np.array([[0, 5, 0], [0, 0, 0], [1, 0, 2]], dtype=np.float64)
    b = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    out = impl.csr_matmul(*naive_csr(a), b)
    np.testing.assert_allclose(out, [[15, 20], [0, 0], [11, 14]])


def test_csr_matmul_vector(impl):
    a = np.array([[0, 2, 0], [3, 0, 4]], dtype=np.float64)
    out = impl.csr_matmul(*naive_csr(a), np.array([1.0, 10.0, 100.0]))
    assert np.shape(out) == (2,)
    np.testing.assert_allclose(out, [20, 403])


def test_csr_matmul_empty_rows(impl):
    """Leading, consecutive and trailing empty rows: the np.add.reduceat trap (equal start indices)."""
    a = np.zeros((7, 4))
    a[1, 2] = 3.0
    a[4, [0, 3]] = [1.0, -2.0]
    b = np.arange(1.0, 9.0).reshape(4, 2)
    np.testing.assert_allclose(impl.csr_matmul(*naive_csr(a), b), a @ b)


def test_csr_matmul_all_zero_matrix(impl):
    a = np.zeros((3, 4))
    out = impl.csr_matmul(*naive_csr(a), np.ones((4, 2)))
    assert np.shape(out) == (3, 2)
    np.testing.assert_array_equal(out, np.zeros((3, 2)))


def test_csr_matmul_rectangular(impl):
    """Rows and columns of A differ, so a gather by the row index (not col_idx) cannot pass."""
    a = random_sparse((3, 6), 0.5, seed=4, dtype=np.float64)
    b = np.random.default_rng(5).standard_normal((6, 3))
    np.testing.assert_allclose(impl.csr_matmul(*naive_csr(a), b), a @ b, atol=1e-12)


@SETTINGS
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 4), st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       st.integers(0, 1000))
def test_csr_matmul_equals_dense(impl, rows, cols, k, density, seed):
    a = random_sparse((rows, cols), density, seed, dtype=np.float64)
    b = np.random.default_rng(seed + 1).standard_normal((cols, k))
    np.testing.assert_allclose(impl.csr_matmul(*naive_csr(a), b), a @ b, atol=1e-12)
