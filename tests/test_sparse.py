"""Tests of minprune.sparse: CSR and bitmask formats round-trip exactly (hypothesis, random masks), their byte
counts match the formulas, the vectorized CSR product equals the dense product (empty rows included — the
``np.add.reduceat`` trap), and SparseLinear / sparsify give a model's outputs to float tolerance."""
import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import models, nn, prune, sparse
from minprune.sparse import BitmaskMatrix, CSRMatrix, SparseLinear

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


def naive_csr(a):
    """CSR by explicit loops over rows and columns: the definition."""
    values, cols, ptr = [], [], [0]
    for row in a:
        for j, v in enumerate(row):
            if v != 0:
                values.append(v)
                cols.append(j)
        ptr.append(len(values))
    return np.array(values, dtype=a.dtype), np.array(cols), np.array(ptr)


@st.composite
def sparse_arrays(draw, min_dims=2, max_dims=4):
    """A random array with a random mask of zeros (often whole empty rows), float16/32/64."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape = tuple(draw(st.lists(st.integers(0 if ndim > 2 else 1, 6), min_size=ndim, max_size=ndim)))
    seed = draw(st.integers(0, 2 ** 16))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    g = np.random.default_rng(seed)
    a = g.standard_normal(shape).astype(dtype)
    a[g.random(shape) >= density] = 0
    if a.ndim >= 2 and a.shape[0] > 1 and draw(st.booleans()):
        a[g.integers(0, a.shape[0])] = 0  # an empty row
    return a


# ---------------------------------------------------------------------- CSR arrays
def test_csr_from_dense_docstring_example():
    a = np.array([[0, 5, 0], [0, 0, 0], [1, 0, 2]], np.float32)
    values, col_idx, row_ptr = sparse.csr_from_dense(a)
    np.testing.assert_array_equal(values, [5, 1, 2])
    np.testing.assert_array_equal(col_idx, [1, 0, 2])
    np.testing.assert_array_equal(row_ptr, [0, 1, 1, 3])
    assert values.dtype == np.float32 and col_idx.dtype == np.int32 and row_ptr.dtype == np.int32


@SETTINGS
@given(sparse_arrays(min_dims=2, max_dims=2))
def test_csr_from_dense_matches_the_definition(a):
    values, col_idx, row_ptr = sparse.csr_from_dense(a)
    expected = naive_csr(a)
    np.testing.assert_array_equal(values, expected[0])
    np.testing.assert_array_equal(col_idx, expected[1])
    np.testing.assert_array_equal(row_ptr, expected[2])


@SETTINGS
@given(sparse_arrays())
def test_csr_round_trip_is_exact(a):
    csr = CSRMatrix.from_dense(a)
    back = csr.to_dense()
    assert back.shape == a.shape and back.dtype == a.dtype
    np.testing.assert_array_equal(back, a)
    rows = a.shape[0]
    assert csr.matrix_shape == (rows, int(np.prod(a.shape[1:])))
    assert csr.nnz == np.count_nonzero(a)
    assert csr.nbytes == sparse.csr_nbytes(rows, csr.nnz, a.itemsize) == \
        csr.nnz * (a.itemsize + 4) + (rows + 1) * 4


@SETTINGS
@given(sparse_arrays(min_dims=1))
def test_bitmask_round_trip_is_exact(a):
    bm = BitmaskMatrix.from_dense(a)
    back = bm.to_dense()
    assert back.shape == a.shape and back.dtype == a.dtype
    np.testing.assert_array_equal(back, a)
    assert bm.nbytes == sparse.bitmask_nbytes(a.size, np.count_nonzero(a), a.itemsize) == \
        -(-a.size // 8) + np.count_nonzero(a) * a.itemsize


def test_byte_formulas_by_hand():
    # 300 x 784 at 10 % density: nnz 23 520; CSR 23 520 * 8 + 301 * 4; bitmask 235 200 / 8 + 23 520 * 4
    assert sparse.csr_nbytes(300, 23520) == 188160 + 1204
    assert sparse.bitmask_nbytes(300 * 784, 23520) == 29400 + 94080
    assert sparse.bitmask_nbytes(9, 0) == 2  # 9 bits round up to 2 bytes
    assert sparse.csr_nbytes(2, 3, value_bytes=2) == 3 * 6 + 3 * 4


def test_csr_rejects_vectors():
    with pytest.raises(ValueError, match="at least 2 dims"):
        CSRMatrix.from_dense(np.ones(3))


# ---------------------------------------------------------------------- CSR x dense
@SETTINGS
@given(sparse_arrays(min_dims=2, max_dims=2), st.integers(0, 5), st.booleans())
def test_csr_matmul_equals_dense(a, k, vector):
    a = a.astype(np.float64)
    g = np.random.default_rng(k)
    b = g.standard_normal((a.shape[1],) if vector else (a.shape[1], k))
    out = sparse.csr_matmul(*sparse.csr_from_dense(a), b)
    assert out.shape == (a @ b).shape
    np.testing.assert_allclose(out, a @ b, atol=1e-12)


def test_csr_matmul_empty_rows_everywhere():
    """Leading, consecutive and trailing empty rows: reduceat would return a stray product or go out of range."""
    a = np.zeros((7, 4), np.float32)
    a[1, 2] = 3.0
    a[4, [0, 3]] = [1.0, -2.0]
    b = np.arange(8, dtype=np.float32).reshape(4, 2) + 1
    np.testing.assert_array_equal(sparse.csr_matmul(*sparse.csr_from_dense(a), b), a @ b)
    zero = np.zeros((3, 4), np.float32)
    np.testing.assert_array_equal(sparse.csr_matmul(*sparse.csr_from_dense(zero), b), np.zeros((3, 2)))


def test_csr_matmul_keeps_float32_and_accepts_transposed_views():
    g = np.random.default_rng(0)
    w = g.standard_normal((30, 20)).astype(np.float32)
    w[g.random(w.shape) < 0.8] = 0
    x = g.standard_normal((5, 20)).astype(np.float32)
    out = CSRMatrix.from_dense(w) @ x.T  # x.T is a view (the SparseLinear path)
    assert out.dtype == np.float32 and out.shape == (30, 5)
    np.testing.assert_allclose(out, w @ x.T, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- SparseLinear and sparsify
def pruned_linear(seed=0, bias=True):
    layer = nn.Linear(12, 7, bias=bias, rng=np.random.default_rng(seed))
    prune.l1_unstructured(layer, "weight", 0.7)
    return layer


def test_sparse_linear_equals_pruned_linear():
    layer = pruned_linear()
    x = np.random.default_rng(1).standard_normal((4, 3, 12)).astype(np.float32)
    fast = SparseLinear.from_linear(layer)
    y = fast(x)
    assert y.shape == (4, 3, 7) and not y.requires_grad
    np.testing.assert_allclose(y.data, layer(x).data, rtol=1e-5, atol=1e-6)
    assert fast.weight_csr.nnz == np.count_nonzero(layer.weight_mask)
    assert "nnz=" in repr(fast)


def test_sparse_linear_reads_the_current_effective_weight():
    """module.weight is stale until the next forward; from_linear must use orig * mask."""
    layer = pruned_linear()
    layer.weight_orig.data[...] = 1.0  # as an optimizer step would, without a forward pass since
    fast = SparseLinear.from_linear(layer)
    np.testing.assert_array_equal(fast.weight_csr.to_dense(), layer.weight_mask)


def test_sparse_linear_without_bias_and_with_pruned_bias():
    layer = pruned_linear(bias=False)
    x = np.ones((2, 12), np.float32)
    np.testing.assert_allclose(SparseLinear.from_linear(layer)(x).data, layer(x).data, rtol=1e-5, atol=1e-6)
    layer = pruned_linear()
    prune.l1_unstructured(layer, "bias", 3)
    np.testing.assert_allclose(SparseLinear.from_linear(layer)(x).data, layer(x).data, rtol=1e-5, atol=1e-6)


def test_sparse_linear_errors():
    fast = SparseLinear.from_linear(pruned_linear())
    with pytest.raises(ValueError, match="in_features"):
        fast(np.ones((2, 5), np.float32))
    with pytest.raises(TypeError, match="nn.Linear"):
        SparseLinear.from_linear(nn.Conv2d(1, 2, 3))


def test_sparsify_matches_the_pruned_model_and_leaves_it_alone():
    model = models.LeNet300_100(rng=np.random.default_rng(0))
    prune.prune_model(model, 0.9, scope="global")
    before = {k: v.copy() for k, v in model.state_dict().items()}
    fast = sparse.sparsify(model)
    assert all(isinstance(getattr(fast, n), SparseLinear) for n in ("fc1", "fc2", "fc3"))
    assert isinstance(model.fc1, nn.Linear)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    x = np.random.default_rng(2).random((9, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(fast(x).data, model(x).data, rtol=1e-4, atol=1e-5)


def test_sparsify_min_sparsity_and_nested_models():
    model = models.LeNet300_100(rng=np.random.default_rng(0))
    prune.l1_unstructured(model.fc1, "weight", 0.95)
    fast = sparse.sparsify(model, min_sparsity=0.5)
    assert isinstance(fast.fc1, SparseLinear) and isinstance(fast.fc2, nn.Linear)
    resnet = models.ResNetMini(channels=4, blocks=1, rng=np.random.default_rng(0)).eval()
    fast = sparse.sparsify(resnet)
    assert isinstance(fast.fc, SparseLinear) and isinstance(fast.conv1, nn.Conv2d)
    x = np.random.default_rng(3).random((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(fast(x).data, resnet(x).data, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="min_sparsity"):
        sparse.sparsify(model, min_sparsity=1.5)


def test_sparsify_a_single_linear():
    layer = pruned_linear()
    fast = sparse.sparsify(layer)
    assert isinstance(fast, SparseLinear) and isinstance(layer, nn.Linear)
    x = np.ones((2, 12), np.float32)
    np.testing.assert_allclose(fast(x).data, layer(x).data, rtol=1e-5, atol=1e-6)


def test_sparse_models_copy():
    fast = sparse.sparsify(models.SeedNet(rng=np.random.default_rng(0)))
    twin = copy.deepcopy(fast)
    x = np.ones((1, 100), np.float32)
    np.testing.assert_array_equal(twin(x).data, fast(x).data)
