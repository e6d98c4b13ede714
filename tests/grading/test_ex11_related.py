"""Grader for exercise 11 (lesson 11, related techniques): affine quantization and dequantization, the
knowledge-distillation loss, and the SVD factorisation of a weight matrix.

Expected values come from hand computations and independent NumPy written here:
- quantize / dequantize: hand values with power-of-two scales (so x · (1/s) and x / s, float32 and float64 all
  agree exactly), exact .5 ties (half to even, as PyTorch's nearbyint: 0.5 → 0, 1.5 → 2, 2.5 → 2), values beyond
  the range (the clamp), a zero point that is *added*, and per-channel scales along axis 0, 1 and on a 4-D
  conv weight — compared with a loop over the channels;
- distillation_loss: α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α)·CE(z_s, y) in float64 with log-sum-exp,
  at temperatures and weights where forgetting T², swapping the KL, not softening the teacher or swapping α and
  1 − α all change the number; and the gradient against its closed form
  ∂L/∂z_s = α·T·(softmax(z_s/T) − softmax(z_t/T))/N + (1 − α)·(softmax(z_s) − onehot(y))/N;
- svd_factors: B·A against the truncated SVD computed here, the Eckart–Young residual Σ_{i>r} σ_i², and the
  even split A·Aᵀ = BᵀB = Σ_r (true whatever the signs of the singular vectors) that the docstring specifies.
"""
import numpy as np
import pytest

import minprune as mp

pytestmark = pytest.mark.ex11

INT8 = (-128, 127)


def rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------- 11.1 quantize
def test_quantize_by_hand(impl):
    # q = clamp(round(x / 0.5) + 3, 0, 15): −0.5 → −1 + 3 = 2, 0 → 3, 1.25 → round(2.5) = 2 → 5, 3.0 → 9
    q = impl.quantize(np.array([-0.5, 0.0, 1.25, 3.0]), 0.5, 3, 0, 15)
    assert np.issubdtype(np.asarray(q).dtype, np.integer), f"return integers, got {np.asarray(q).dtype}"
    assert np.asarray(q).tolist() == [2, 3, 5, 9]


def test_quantize_rounds_half_to_even(impl):
    x = np.array([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -3.5])
    q = np.asarray(impl.quantize(x, 1.0, 0, *INT8))
    assert q.tolist() == [0, 2, 2, 4, 0, -2, -2, -4], \
        "ties go to the even integer (np.rint / np.round, like PyTorch's nearbyint), not up or away from zero"


def test_quantize_rounds_to_nearest(impl):
    x = np.array([0.26, 0.24, -0.26, -0.24, 0.74, -0.99])          # / 0.5 → 0.52, 0.48, −0.52, −0.48, 1.48, −1.98
    assert np.asarray(impl.quantize(x, 0.5, 0, *INT8)).tolist() == [1, 0, -1, 0, 1, -2]


def test_quantize_clamps_to_the_range(impl):
    x = np.array([-100.0, -2.25, 1.75, 100.0])                      # / 0.25 → −400, −9, 7, 400
    assert np.asarray(impl.quantize(x, 0.25, 0, -8, 7)).tolist() == [-8, -8, 7, 7]
    # with a zero point the clamp applies after adding it: round(x/s) + z ∈ [0, 15]
    assert np.asarray(impl.quantize(x, 0.25, 8, 0, 15)).tolist() == [0, 0, 15, 15]


def test_quantize_adds_the_zero_point(impl):
    # an unsigned (asymmetric) grid: 0.0 is stored as z, negative values below it
    x = np.array([0.0, -1.0, -0.125, 2.0])
    assert np.asarray(impl.quantize(x, 0.125, 10, 0, 255)).tolist() == [10, 2, 9, 26]


def test_quantize_keeps_the_shape(impl):
    x = rng(1).normal(size=(3, 4, 5))
    assert np.shape(impl.quantize(x, 0.0625, 0, *INT8)) == (3, 4, 5)


def loop_quantize(x, scale, zero, qmin, qmax, axis):
    """Per-channel quantization with a loop over the channels along ``axis``."""
    out = np.empty(x.shape, dtype=np.int64)
    for c in range(x.shape[axis]):
        index = [slice(None)] * x.ndim
        index[axis] = c
        out[tuple(index)] = np.clip(np.rint(x[tuple(index)] / scale[c]) + zero[c], qmin, qmax)
    return out


@pytest.mark.parametrize("axis", [0, 1])
def test_quantize_per_channel_on_a_matrix(impl, axis):
    x = rng(2).normal(size=(4, 4)) * 3                               # square: a wrong axis still broadcasts
    scale = np.array([0.5, 0.125, 2.0, 0.25])
    zero = np.array([0, 3, -2, 5])
    q = np.asarray(impl.quantize(x, scale, zero, *INT8, axis=axis))
    np.testing.assert_array_equal(q, loop_quantize(x, scale, zero, *INT8, axis))


def test_quantize_per_channel_on_a_non_square_matrix(impl):
    x = rng(3).normal(size=(3, 5)) * 2
    scale = np.array([0.25, 0.5, 0.125, 1.0, 0.0625])
    zero = np.zeros(5, dtype=int)
    q = np.asarray(impl.quantize(x, scale, zero, -8, 7, axis=1))
    np.testing.assert_array_equal(q, loop_quantize(x, scale, zero, -8, 7, 1))


def test_quantize_per_channel_on_a_conv_weight(impl):
    # a conv weight (out, in, kh, kw) quantized per output channel: the scale must broadcast as (out, 1, 1, 1)
    x = rng(4).normal(size=(3, 2, 3, 3))
    scale = np.array([0.015625, 0.0625, 0.25])
    zero = np.array([1, 0, -1])
    q = np.asarray(impl.quantize(x, scale, zero, *INT8, axis=0))
    np.testing.assert_array_equal(q, loop_quantize(x, scale, zero, *INT8, 0))


def test_quantize_does_not_modify_its_input(impl):
    x = np.array([0.3, -1.7, 2.2])
    copy = x.copy()
    impl.quantize(x, 0.5, 1, *INT8)
    np.testing.assert_array_equal(x, copy)


# ---------------------------------------------------------------------------------------------- 11.2 dequantize
def test_dequantize_by_hand(impl):
    # x̂ = (q − 3) · 0.5
    x = np.asarray(impl.dequantize(np.array([2, 3, 5, 15, 0]), 0.5, 3))
    np.testing.assert_array_equal(x, [-0.5, 0.0, 1.0, 6.0, -1.5])


def test_dequantize_zero_point_is_exactly_zero(impl):
    x = np.asarray(impl.dequantize(np.array([7, 7, 8]), 0.1, 7))
    assert x[0] == 0.0 and x[1] == 0.0, "q = zero_point must give exactly 0.0 (pruned weights stay pruned)"
    assert x[2] == pytest.approx(0.1)


def test_dequantize_returns_float32(impl):
    x = np.asarray(impl.dequantize(np.array([1, -2], dtype=np.int32), 0.25, 0))
    assert x.dtype == np.float32, f"the docstring asks for float32, got {x.dtype}"
    np.testing.assert_array_equal(x, [0.25, -0.5])


@pytest.mark.parametrize("axis", [0, 1])
def test_dequantize_per_channel(impl, axis):
    q = rng(5).integers(-128, 128, size=(4, 4))
    scale = np.array([0.5, 0.125, 2.0, 0.25])
    zero = np.array([0, 3, -2, 5])
    expected = np.empty(q.shape)
    for c in range(4):
        index = (c, slice(None)) if axis == 0 else (slice(None), c)
        expected[index] = (q[index] - zero[c]) * scale[c]
    np.testing.assert_allclose(np.asarray(impl.dequantize(q, scale, zero, axis=axis)), expected, rtol=1e-7)


def test_dequantize_per_channel_on_a_conv_weight(impl):
    q = rng(6).integers(-8, 8, size=(3, 2, 2, 2))
    scale, zero = np.array([0.5, 0.25, 2.0]), np.array([1, 0, -1])
    expected = (q - zero[:, None, None, None]) * scale[:, None, None, None]
    np.testing.assert_allclose(np.asarray(impl.dequantize(q, scale, zero, axis=0)), expected, rtol=1e-7)


# ---------------------------------------------------------------------------------------------- 11.3 distillation_loss
def log_softmax(z):
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def reference_loss(student, teacher, targets, T, alpha):
    log_p = log_softmax(teacher / T)                                 # the softened teacher
    kl = np.sum(np.exp(log_p) * (log_p - log_softmax(student / T)), axis=1).mean()   # KL(p_t ‖ q_s), batch mean
    ce = -log_softmax(student)[np.arange(len(targets)), targets].mean()
    return alpha * T * T * kl + (1 - alpha) * ce


def logits(seed=0, n=5, c=4, scale=2.0):
    g = rng(seed)
    return g.normal(size=(n, c)) * scale, g.normal(size=(n, c)) * scale, g.integers(0, c, n)


def loss_value(impl, student, teacher, targets, **kwargs):
    out = impl.distillation_loss(mp.tensor(student, requires_grad=True), teacher, targets, **kwargs)
    assert isinstance(out, mp.Tensor), f"return a Tensor (so it can be backpropagated), got {type(out).__name__}"
    assert out.size == 1, f"return a scalar, got shape {out.shape}"
    return float(out.data)


@pytest.mark.parametrize("T,alpha", [(4.0, 0.9), (2.0, 0.5), (3.0, 0.25)])
def test_distillation_loss_value(impl, T, alpha):
    s, t, y = logits(1)
    got = loss_value(impl, s, t, y, T=T, alpha=alpha)
    assert got == pytest.approx(reference_loss(s, t, y, T, alpha), rel=1e-6), \
        f"T={T}, alpha={alpha}: got {got}, expected {reference_loss(s, t, y, T, alpha)}"


def test_distillation_loss_defaults(impl):
    s, t, y = logits(2)
    assert loss_value(impl, s, t, y) == pytest.approx(reference_loss(s, t, y, 4.0, 0.9), rel=1e-6)


def test_distillation_loss_soft_term_alone(impl):
    # alpha = 1: only α·T²·KL — the T² factor and the KL direction decide this number
    s, t, y = logits(3)
    assert loss_value(impl, s, t, y, T=3.0, alpha=1.0) == pytest.approx(reference_loss(s, t, y, 3.0, 1.0), rel=1e-6)


def test_distillation_loss_hard_term_alone(impl):
    # alpha = 0: plain cross-entropy with the labels, at temperature 1
    s, t, y = logits(4)
    assert loss_value(impl, s, t, y, T=5.0, alpha=0.0) == pytest.approx(reference_loss(s, t, y, 5.0, 0.0), rel=1e-6)


def test_distillation_loss_zero_kl_when_student_matches_teacher(impl):
    s, _, y = logits(5)
    ce = -log_softmax(s)[np.arange(len(y)), y].mean()
    assert loss_value(impl, s, s.copy(), y, T=2.0, alpha=0.6) == pytest.approx(0.4 * ce, rel=1e-6)


def test_distillation_loss_gradient(impl):
    s, t, y = logits(6)
    T, alpha = 4.0, 0.7
    student = mp.tensor(s, requires_grad=True)
    impl.distillation_loss(student, t, y, T=T, alpha=alpha).backward()
    n = len(y)
    q, p = np.exp(log_softmax(s / T)), np.exp(log_softmax(t / T))
    expected = alpha * T * (q - p) / n + (1 - alpha) * (np.exp(log_softmax(s)) - np.eye(s.shape[1])[y]) / n
    assert student.grad is not None, "build the loss from Tensor operations so backward() reaches the student"
    np.testing.assert_allclose(student.grad, expected, rtol=1e-6, atol=1e-10)


def test_distillation_loss_is_stable_for_large_logits(impl):
    s, t, y = logits(7, scale=500.0)
    got = loss_value(impl, s, t, y, T=2.0, alpha=0.5)
    assert np.isfinite(got), "subtract the row maximum (or use log_softmax) before exponentiating"
    assert got == pytest.approx(reference_loss(s, t, y, 2.0, 0.5), rel=1e-6)


def test_distillation_loss_averages_over_the_batch(impl):
    # the same rows repeated: a batch mean does not change, a sum would double
    s, t, y = logits(8)
    one = loss_value(impl, s, t, y, T=2.0, alpha=0.5)
    two = loss_value(impl, np.concatenate([s, s]), np.concatenate([t, t]), np.concatenate([y, y]), T=2.0, alpha=0.5)
    assert two == pytest.approx(one, rel=1e-6)


# ---------------------------------------------------------------------------------------------- 11.4 svd_factors
def truncated(w, r):
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return (u[:, :r] * s[:r]) @ vt[:r]


@pytest.mark.parametrize("shape,rank", [((6, 4), 2), ((4, 7), 3), ((5, 5), 1)])
def test_svd_factors_shapes_and_product(impl, shape, rank):
    w = rng(9).normal(size=shape)
    a, b, s = impl.svd_factors(w, rank)
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == (rank, shape[1]), f"A must be (rank, in) = {(rank, shape[1])}, got {a.shape}"
    assert b.shape == (shape[0], rank), f"B must be (out, rank) = {(shape[0], rank)}, got {b.shape}"
    np.testing.assert_allclose(b @ a, truncated(w, rank), atol=1e-10)


def test_svd_factors_singular_values(impl):
    w = rng(10).normal(size=(5, 8))
    sigma = np.linalg.svd(w, compute_uv=False)
    _, _, s = impl.svd_factors(w, 2)
    s = np.asarray(s)
    assert len(s) in (2, 5), f"return the singular values (all of them, or the kept ones), got {len(s)}"
    np.testing.assert_allclose(s, sigma[:len(s)], rtol=1e-10)


def test_svd_factors_eckart_young(impl):
    w = rng(11).normal(size=(7, 5))
    sigma = np.linalg.svd(w, compute_uv=False)
    for r in range(1, 6):
        a, b, _ = impl.svd_factors(w, r)
        residual = np.sum((w - np.asarray(b) @ np.asarray(a)) ** 2)
        assert residual == pytest.approx(np.sum(sigma[r:] ** 2), rel=1e-8, abs=1e-10), f"rank {r}"


def test_svd_factors_full_rank_is_exact(impl):
    w = rng(12).normal(size=(4, 6))
    a, b, _ = impl.svd_factors(w, 4)
    np.testing.assert_allclose(np.asarray(b) @ np.asarray(a), w, atol=1e-10)


def test_svd_factors_split_sigma_evenly(impl):
    # A = √Σ_r V_rᵀ, B = U_r √Σ_r  ⇒  A·Aᵀ = Σ_r and Bᵀ·B = Σ_r. All of Σ in one factor (A = V_rᵀ, B = U_r Σ_r)
    # is a valid factorisation too, but not the one the docstring specifies.
    w = rng(13).normal(size=(6, 5))
    sigma = np.linalg.svd(w, compute_uv=False)
    a, b, _ = impl.svd_factors(w, 3)
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a @ a.T, np.diag(sigma[:3]), atol=1e-10, err_msg="A·Aᵀ should be Σ_r")
    np.testing.assert_allclose(b.T @ b, np.diag(sigma[:3]), atol=1e-10, err_msg="Bᵀ·B should be Σ_r")


def test_svd_factors_float32_weight(impl):
    w = rng(14).normal(size=(8, 3)).astype(np.float32)
    a, b, _ = impl.svd_factors(w, 2)
    np.testing.assert_allclose(np.asarray(b, np.float64) @ np.asarray(a, np.float64),
                               truncated(w.astype(np.float64), 2), atol=1e-5)
