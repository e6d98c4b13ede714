"""Tests of minprune.related.quantize against computations written out here: the affine round trip and its
half-step error bound, an exact zero, per-channel ranges, half-to-even rounding, PyTorch's fake-quantize
kernel written out scalar by scalar in float32 (and PyTorch itself when it is installed), the straight-through
gradient mask, the three calibration methods, and k-means weight sharing."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minprune as mp
from minprune.related import quantize as Q

from helpers import numerical_grad

INT8 = (-128, 127)


def rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------- integer ranges
def test_qrange_signed_and_unsigned():
    assert Q.qrange(8, True) == (-128, 127)
    assert Q.qrange(8, False) == (0, 255)
    assert Q.qrange(4, True) == (-8, 7)
    assert Q.qrange(2, False) == (0, 3)


@pytest.mark.parametrize("bits", [1, 17, 8.0, "8"])
def test_qrange_rejects_bad_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        Q.qrange(bits, True)


# ---------------------------------------------------------------------- quantize / dequantize
def test_rounding_is_half_to_even():
    # scale 1: x / s lands exactly on .5; PyTorch (nearbyint) and np.rint round to the even neighbour
    x = np.array([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49, 0.51])
    q = Q.quantize(x, 1.0, 0, *INT8)
    assert q.tolist() == [0, 2, 2, 4, 0, -2, -2, 0, 1]
    assert q.dtype == np.int32


def test_quantize_by_hand_with_zero_point_and_clamp():
    # q = clamp(round(x / 0.5) + 3, 0, 15): -0.5 → 2, 0 → 3, 1.2 → round(2.4) + 3 = 5, 100 → 15, -100 → 0
    q = Q.quantize([-0.5, 0.0, 1.2, 100.0, -100.0], 0.5, 3, 0, 15)
    assert q.tolist() == [2, 3, 5, 15, 0]
    back = Q.dequantize(q, 0.5, 3)
    assert back.dtype == np.float32
    assert back.tolist() == [-0.5, 0.0, 1.0, 6.0, -1.5]


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(-50, -1e-3), hi=st.floats(1e-3, 50), bits=st.integers(2, 8), symmetric=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_round_trip_error_at_most_half_a_step(lo, hi, bits, symmetric, seed):
    x = rng(seed).uniform(lo, hi, 300)
    x[:2] = lo, hi                                    # the range ends themselves
    scale, zero = Q.calibrate(x, bits, symmetric)
    qmin, qmax = Q.qrange(bits, symmetric)
    q = Q.quantize(x, scale, zero, qmin, qmax)
    assert q.min() >= qmin and q.max() <= qmax
    error = np.abs(Q.dequantize(q, scale, zero).astype(np.float64) - x)
    # half a step, plus the float32 rounding of the dequantized value
    assert np.all(error <= scale / 2 + 1e-6 * np.abs(x) + 1e-12), (error.max(), scale / 2)


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(-50, 0), hi=st.floats(1e-3, 50), bits=st.integers(2, 8), symmetric=st.booleans())
def test_zero_is_exact(lo, hi, bits, symmetric):
    # 0.0 quantizes to the zero point and comes back as exactly 0.0: pruned weights stay pruned
    scale, zero = Q.calibrate(np.array([lo, hi, 0.3 * lo + 0.7 * hi]), bits, symmetric)
    qmin, qmax = Q.qrange(bits, symmetric)
    assert qmin <= zero <= qmax
    q = Q.quantize(np.zeros(3), scale, zero, qmin, qmax)
    assert q.tolist() == [zero] * 3
    assert Q.dequantize(q, scale, zero).tolist() == [0.0] * 3
    assert Q.fake_quantize(np.zeros(2, np.float32), scale, zero, qmin, qmax).tolist() == [0.0, 0.0]


def test_asymmetric_range_of_positive_data_starts_at_zero():
    # post-ReLU activations: the range is [0, max], z = 0, q_max ↔ max
    x = np.array([0.0, 0.5, 2.55])
    scale, zero = Q.calibrate(x, 8, symmetric=False)
    assert zero == 0 and scale == pytest.approx(2.55 / 255)
    assert Q.quantize(x, scale, zero, 0, 255).tolist() == [0, 50, 255]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_per_channel_equals_per_tensor_on_each_slice(axis):
    x = rng(1).normal(size=(4, 5)) * np.array([0.1, 1.0, 10.0, 3.0, 0.5])[None, :]
    n = x.shape[axis]
    scale = np.linspace(0.01, 0.2, n)
    zero = np.arange(n) - 2
    q = Q.quantize(x, scale, zero, *INT8, axis=axis)
    back = Q.dequantize(q, scale, zero, axis=axis)
    for c in range(n):
        part = np.take(x, c, axis=axis)
        np.testing.assert_array_equal(np.take(q, c, axis=axis), Q.quantize(part, scale[c], zero[c], *INT8))
        np.testing.assert_array_equal(np.take(back, c, axis=axis),
                                      Q.dequantize(Q.quantize(part, scale[c], zero[c], *INT8), scale[c], zero[c]))


def test_per_channel_calibration_ranges():
    # rows with very different ranges: each row gets its own scale (and zero point), its extremes map to the
    # ends of the integer range
    x = np.array([[-1.0, 0.0, 0.5, 1.0],
                  [0.0, 10.0, 20.0, 40.0],
                  [-3.0, -2.0, 0.0, 1.0]])
    scale, zero = Q.calibrate(x, 8, symmetric=True, axis=0)
    np.testing.assert_allclose(scale, np.array([1.0, 40.0, 3.0]) / 127.5)
    assert zero.tolist() == [0, 0, 0]
    scale, zero = Q.calibrate(x, 8, symmetric=False, axis=0)
    lo, hi = np.array([-1.0, 0.0, -3.0]), np.array([1.0, 40.0, 1.0])
    np.testing.assert_allclose(scale, (hi - lo) / 255)
    assert zero.tolist() == np.rint(-lo / ((hi - lo) / 255)).astype(int).tolist()
    q = Q.quantize(x, scale, zero, 0, 255, axis=0)
    assert q.min(axis=1).tolist() == [0, 0, 0] and q.max(axis=1).tolist() == [255, 255, 255]
    # per column (axis=1): four ranges
    scale, _ = Q.calibrate(x, 8, symmetric=True, axis=1)
    np.testing.assert_allclose(scale, np.array([3.0, 10.0, 20.0, 40.0]) / 127.5)


def test_per_channel_beats_per_tensor_when_rows_differ():
    x = rng(2).normal(size=(8, 64)) * np.logspace(-2, 1, 8)[:, None]
    s, z = Q.calibrate(x, 8)
    sc, zc = Q.calibrate(x, 8, axis=0)
    per_tensor = Q.fake_quantize(x, s, z, *INT8)
    per_channel = Q.fake_quantize(x, sc, zc, *INT8, axis=0)
    err_channel, err_tensor = ((x - per_channel) ** 2).sum(axis=1), ((x - per_tensor) ** 2).sum(axis=1)
    # the row with the widest range sets the per-tensor scale: same error there, far less in the small rows
    assert err_channel[-1] == pytest.approx(err_tensor[-1])
    assert np.all(err_channel[:4] < 1e-3 * err_tensor[:4])


# ---------------------------------------------------------------------- fake quantization = PyTorch's kernel
def torch_kernel(x, scale, zero_point, qmin, qmax):
    """PyTorch's CPU fake-quantize kernel, scalar by scalar in float32, for per-tensor parameters:
        inv_scale = 1.0f / scale;  qval = zero_point + nearbyint(x * inv_scale);
        out = (clamp(qval, qmin, qmax) − zero_point) * scale."""
    scale = np.float32(scale)
    inv_scale = np.float32(1.0) / scale
    out = np.empty(len(x), np.float32)
    for i, value in enumerate(np.asarray(x, np.float32)):
        product = float(value * inv_scale)                  # a float32 product, held exactly in a Python float
        qval = np.float32(zero_point) + np.float32(round(product))   # round(): half to even, like nearbyint
        out[i] = (np.float32(min(max(qval, qmin), qmax)) - np.float32(zero_point)) * scale
    return out


@pytest.mark.parametrize("scale,zero_point", [(0.1, 0), (0.037, 3), (1 / 3, -5), (0.25, 7)])
def test_fake_quantize_equals_pytorch_kernel_written_out(scale, zero_point):
    x = (rng(3).normal(size=2000) * 6).astype(np.float32)
    x[:6] = np.array([0.125, 0.375, -0.125, 2.5, 3.5, -1e6]) * np.float32(scale)   # ties and a clamp
    out = Q.fake_quantize(x, scale, zero_point, *INT8)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, torch_kernel(x, scale, zero_point, *INT8))


def test_fake_quantize_per_channel_equals_kernel_on_each_channel():
    x = (rng(4).normal(size=(5, 300)) * 4).astype(np.float32)
    scale = np.array([0.01, 0.05, 0.1, 0.3, 0.07], np.float32)
    zero = np.array([0, 3, -2, 10, -7])
    out = Q.fake_quantize(x, scale, zero, -8, 7, axis=0)
    for c in range(5):
        np.testing.assert_array_equal(out[c], torch_kernel(x[c], scale[c], zero[c], -8, 7))
    out_t = Q.fake_quantize(x.T.copy(), scale, zero, -8, 7, axis=1)
    np.testing.assert_array_equal(out_t, out.T)


def test_fake_quantize_equals_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    x = (rng(5).normal(size=(6, 400)) * 5).astype(np.float32)
    for scale, zero in [(0.1, 0), (0.0123456, 10), (1 / 3, -5)]:
        expected = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), scale, zero, -128, 127).numpy()
        np.testing.assert_array_equal(Q.fake_quantize(x, scale, zero, -128, 127), expected)
    scale = rng(6).uniform(0.01, 0.2, 6).astype(np.float32)
    zero = rng(6).integers(-5, 5, 6).astype(np.int32)
    expected = torch.fake_quantize_per_channel_affine(torch.from_numpy(x), torch.from_numpy(scale),
                                                      torch.from_numpy(zero), 0, -8, 7).numpy()
    np.testing.assert_array_equal(Q.fake_quantize(x, scale, zero, -8, 7, axis=0), expected)


def test_fake_quantize_keeps_float64():
    x = np.array([0.1, 0.2, 0.3])
    out = Q.fake_quantize(x, 0.1, 0, *INT8)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.array([1.0, 2.0, 3.0]) * 0.1)


# ---------------------------------------------------------------------- the straight-through estimator
def test_ste_gradient_passes_inside_and_is_zero_where_clamped():
    # scale 0.1, z = 0, int4 [-8, 7]: representable [-0.8, 0.7]; 0.74 rounds to 7 (inside), 0.76 to 8 (clamped),
    # −0.84 to −8 (inside), −0.86 to −9 (clamped)
    x = mp.tensor(np.array([-2.0, -0.86, -0.84, -0.3, 0.0, 0.26, 0.74, 0.76, 3.0]), requires_grad=True)
    upstream = np.arange(1.0, 10.0)
    out = Q.fake_quantize(x, 0.1, 0, -8, 7)
    (out * upstream).sum().backward()
    inside = np.array([0, 0, 1, 1, 1, 1, 1, 0, 0], dtype=bool)
    np.testing.assert_array_equal(x.grad, np.where(inside, upstream, 0.0))


def test_ste_mask_with_zero_point_and_per_channel():
    data = rng(7).uniform(-3, 3, size=(3, 50))
    scale, zero = np.array([0.01, 0.02, 0.05]), np.array([5, -3, 0])
    x = mp.tensor(data, requires_grad=True)
    Q.fake_quantize(x, scale, zero, -64, 63, axis=0).sum().backward()
    level = np.rint(data / scale[:, None]) + zero[:, None]          # before the clamp
    expected = ((level >= -64) & (level <= 63)).astype(float)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(x.grad, expected)


def test_ste_in_a_composed_loss():
    # loss = Σ (fq(w) − t)²: ∂/∂w = 2 (fq(w) − t) · inside(w)
    w_data = np.array([0.33, -0.52, 1.7, 0.05])
    t = np.array([0.3, -0.4, 0.1, 0.0])
    w = mp.tensor(w_data, requires_grad=True)
    ((Q.fake_quantize(w, 0.1, 0, -8, 7) - t) ** 2).sum().backward()
    fq = np.array([0.3, -0.5, 0.7, 0.0])
    np.testing.assert_allclose(w.grad, 2 * (fq - t) * np.array([1, 1, 0, 1]), atol=1e-12)
    assert w.grad.dtype == np.float64


def test_ste_where_the_function_is_differentiable():
    # fake_quantize is piecewise constant: its true derivative is 0 away from the rounding steps. In the clamped
    # region the STE agrees with finite differences (0); inside, the STE deliberately passes the gradient (1)
    # where finite differences see a flat step — the estimator, not the derivative.
    values = np.array([-5.0, -1.234, 2.345, 9.0, 0.0123, -0.0456])   # clamped: first four; inside: last two
    x = values.copy()
    fd = numerical_grad(lambda: Q.fake_quantize(x, 0.1, 0, -8, 7).sum(), x, eps=1e-6)
    np.testing.assert_array_equal(fd, 0.0)
    t = mp.tensor(values, requires_grad=True)
    Q.fake_quantize(t, 0.1, 0, -8, 7).sum().backward()
    np.testing.assert_array_equal(t.grad, [0, 0, 0, 0, 1, 1])


# ---------------------------------------------------------------------- calibration
def test_calibrate_minmax_by_hand():
    x = np.array([-0.5, 0.25, 2.0])
    scale, zero = Q.calibrate(x, 8, symmetric=True)
    assert scale == pytest.approx(2.0 / 127.5) and zero == 0
    scale, zero = Q.calibrate(x, 8, symmetric=False)
    assert scale == pytest.approx(2.5 / 255)
    assert zero == round(0.5 / (2.5 / 255))                     # −0.5 ↔ q = 0
    scale, zero = Q.calibrate(x, 4, symmetric=False)
    assert scale == pytest.approx(2.5 / 15) and zero == 3       # round(0.5 / (2.5/15)) = round(3.0)


def test_percentile_clips_outliers():
    x = rng(8).normal(size=100_000)
    x[:3] = [80.0, -60.0, 100.0]                                # a few huge outliers
    minmax, _ = Q.calibrate(x, 8, method="minmax")
    clipped, _ = Q.calibrate(x, 8, method="percentile", percentile=99.9)
    assert minmax == pytest.approx(100 / 127.5)
    bound = max(-np.percentile(x, 0.1), np.percentile(x, 99.9))
    assert clipped == pytest.approx(bound / 127.5)
    assert clipped < minmax / 20
    # and the typical value is reproduced far better
    bulk = x[3:]
    err = lambda s: np.mean((Q.fake_quantize(bulk, s, 0, *INT8) - bulk) ** 2)   # noqa: E731
    assert err(clipped) < err(minmax) / 100


@pytest.mark.parametrize("distribution", ["normal", "laplace", "uniform", "outliers"])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", [4, 8])
def test_mse_never_worse_than_minmax(distribution, symmetric, bits):
    g = rng(9)
    x = {"normal": g.normal(size=5000), "laplace": g.laplace(size=5000), "uniform": g.uniform(-1, 3, 5000),
         "outliers": np.concatenate([g.normal(size=4990), g.normal(size=10) * 50])}[distribution]
    qmin, qmax = Q.qrange(bits, symmetric)

    def mse(method):
        s, z = Q.calibrate(x, bits, symmetric, method)
        return np.sum((Q.fake_quantize(x, s, z, qmin, qmax) - x) ** 2)

    assert mse("mse") <= mse("minmax")
    if distribution == "laplace" and bits == 4:
        assert mse("mse") < 0.8 * mse("minmax")          # clipping the long tails pays
    # (with rare 50σ outliers, min-max stays the best: clipping them would cost more than the finer steps gain)


def test_mse_per_channel_never_worse_than_minmax_per_channel():
    x = rng(10).laplace(size=(6, 500)) * np.arange(1, 7)[:, None]
    s_mm, z_mm = Q.calibrate(x, 4, axis=0, method="minmax")
    s_mse, z_mse = Q.calibrate(x, 4, axis=0, method="mse")
    err = lambda s, z: ((Q.fake_quantize(x, s, z, -8, 7, axis=0) - x) ** 2).sum(axis=1)   # noqa: E731
    assert np.all(err(s_mse, z_mse) <= err(s_mm, z_mm))
    assert s_mse.shape == (6,)


def test_calibrate_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        Q.calibrate(np.ones(3), method="entropy")


def test_quantize_tensor_is_calibrate_then_quantize():
    x = rng(11).normal(size=(4, 7))
    q, s, z = Q.quantize_tensor(x, bits=4, symmetric=False, axis=0)
    s2, z2 = Q.calibrate(x, 4, False, axis=0)
    np.testing.assert_array_equal(s, s2)
    np.testing.assert_array_equal(q, Q.quantize(x, s2, z2, 0, 15, axis=0))


# ---------------------------------------------------------------------- k-means weight sharing
def sparse_weight(seed, shape=(20, 30), density=0.3):
    g = rng(seed)
    w = g.normal(size=shape).astype(np.float32)
    return w * (g.random(shape) < density)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 16), bits=st.integers(1, 5), density=st.floats(0.0, 1.0))
def test_kmeans_keeps_zeros_and_at_most_2_to_the_bits_values(seed, bits, density):
    w = sparse_weight(seed, density=density)
    shared, codebook, indices = Q.kmeans_quantize(w, bits)
    assert shared.shape == w.shape and shared.dtype == w.dtype and codebook.shape == (2 ** bits,)
    np.testing.assert_array_equal(shared[w == 0], 0.0)          # pruned weights stay exactly 0
    np.testing.assert_array_equal(indices[w == 0], -1)
    assert np.all(indices[w != 0] >= 0) and np.all(indices < 2 ** bits)
    assert len(np.unique(shared[w != 0])) <= 2 ** bits
    np.testing.assert_array_equal(shared[w != 0], codebook[indices[w != 0]].astype(np.float32))


def test_kmeans_nearest_centroid_and_centroid_is_mean():
    w = sparse_weight(12)
    shared, codebook, indices = Q.kmeans_quantize(w, 3)
    values, assigned = w[w != 0].astype(np.float64), indices[w != 0]
    # every weight sits in the cluster of its nearest centroid (a fixed point of Lloyd's algorithm) ...
    nearest = np.abs(values[:, None] - codebook[None, :]).min(axis=1)
    np.testing.assert_allclose(np.abs(values - codebook[assigned]), nearest, atol=1e-12)
    # ... and each used centroid is the mean of its weights
    for k in np.unique(assigned):
        assert codebook[k] == pytest.approx(values[assigned == k].mean(), abs=1e-5)


def test_kmeans_converges_on_hand_clusters():
    # four tight clusters and zeros: 2 bits find the four cluster means
    clusters = {-2.0: [-2.1, -2.0, -1.9], 1.0: [0.9, 1.0, 1.1], 3.0: [2.9, 3.0, 3.1], 5.1: [5.0, 5.2]}
    w = np.array([v for vs in clusters.values() for v in vs] + [0.0, 0.0])
    shared, codebook, indices = Q.kmeans_quantize(w, 2)
    np.testing.assert_allclose(codebook, list(clusters), atol=1e-12)
    assert indices.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, -1, -1]
    np.testing.assert_allclose(shared, [-2, -2, -2, 1, 1, 1, 3, 3, 3, 5.1, 5.1, 0, 0])


def test_kmeans_linear_initialisation_keeps_rare_large_weights():
    # many small weights and one large one: linear initialisation gives the outlier its own centroid
    w = np.concatenate([rng(13).normal(0, 0.01, 1000), [1.0]])
    shared, codebook, _ = Q.kmeans_quantize(w, 2)
    assert shared[-1] == pytest.approx(1.0)


def test_kmeans_is_deterministic_and_handles_all_zero():
    w = sparse_weight(14)
    a, b = Q.kmeans_quantize(w, 4), Q.kmeans_quantize(w.copy(), 4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    shared, codebook, indices = Q.kmeans_quantize(np.zeros((3, 4)), 2)
    assert not shared.any() and (indices == -1).all()


def test_codebook_gradient_sums_per_cluster():
    indices = np.array([[0, 2, -1], [2, 2, 1], [-1, 0, 0]])
    grad = np.array([[1.0, 2.0, 100.0], [3.0, 4.0, 5.0], [100.0, 6.0, 7.0]])
    out = Q.codebook_gradient(indices, grad, 4)
    # cluster 0: 1 + 6 + 7; cluster 1: 5; cluster 2: 2 + 3 + 4; cluster 3 empty; −1 (pruned) ignored
    np.testing.assert_array_equal(out, [14.0, 5.0, 9.0, 0.0])
    g = rng(15)
    indices, grad = g.integers(-1, 8, size=500), g.normal(size=500)
    loop = [sum(grad[i] for i in range(500) if indices[i] == k) for k in range(8)]
    np.testing.assert_allclose(Q.codebook_gradient(indices, grad, 8), loop, atol=1e-12)
