"""Tests of minprune.functional: forward values against independent computations (naive Python loops for the
convolution and pooling kernels, written-out formulas for the rest) and every backward against finite
differences in float64."""
import math
import warnings

import numpy as np
import pytest

import minprune as mp
from minprune import functional as F
from helpers import gradcheck, separated, t64


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


# ---------------------------------------------------------------------- naive reference kernels
def naive_conv2d(x, w, b, stride, padding, groups):
    """Direct definition: out[n, o, i, j] = b[o] + Σ_{c, a, d} xpad[n, g·C/G + c, i·sh + a, j·sw + d] · w[o, c, a, d],
    with g = o // (O/G) the group of output channel o. One Python loop per index — slow and obviously right."""
    (sh, sw), (ph, pw) = stride, padding
    n, c_in, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c_in, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for s in range(n):
        for oc in range(o):
            g = oc // og
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if b is None else b[oc]
                    for c in range(cg):
                        for a in range(kh):
                            for d in range(kw):
                                total += xp[s, g * cg + c, i * sh + a, j * sw + d] * w[oc, c, a, d]
                    out[s, oc, i, j] = total
    return out


def naive_pool2d(x, kernel, stride, padding, kind):
    """Max pooling pads with −∞ (padding never wins); average pooling pads with 0 and divides by kh·kw
    (PyTorch's count_include_pad=True)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, wd = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.full((n, c, h + 2 * ph, wd + 2 * pw), fill)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, c, ho, wo))
    for s in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    window = [xp[s, ch, i * sh + a, j * sw + d] for a in range(kh) for d in range(kw)]
                    out[s, ch, i, j] = max(window) if kind == "max" else sum(window) / (kh * kw)
    return out


def log_softmax_ref(z, axis=-1):
    """log softmax via math.fsum-free float64 logsumexp, computed with the max shift written out."""
    m = np.max(z, axis=axis, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))


# ---------------------------------------------------------------------- activations
def test_relu_sigmoid_tanh_accept_arrays_and_tensors(rng):
    data = separated((3, 4), rng)
    for fn, ref in [(F.relu, lambda v: np.maximum(v, 0)), (F.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
                    (F.tanh, np.tanh)]:
        np.testing.assert_allclose(fn(data).data, ref(data), rtol=1e-12)
        np.testing.assert_allclose(fn(mp.tensor(data)).data, ref(data), rtol=1e-12)
        gradcheck(fn, t64(data))


@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu(slope, rng):
    x = t64(separated((3, 5), rng))
    np.testing.assert_allclose(F.leaky_relu(x, slope).data, np.where(x.data > 0, x.data, slope * x.data))
    gradcheck(lambda t: F.leaky_relu(t, slope), x)
    assert F.leaky_relu(mp.tensor([1.0, -1.0])).dtype == np.float32


def test_gelu_exact_against_math_erf(rng):
    x = t64(np.concatenate([np.linspace(-6, 6, 25), rng.standard_normal(10)]))
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.data])
    # Abramowitz–Stegun's erf has |error| ≤ 1.5e-7, so GELU's is ≤ |x|·0.75e-7
    np.testing.assert_allclose(F.gelu(x).data, exact, rtol=0, atol=1e-6)
    assert F.gelu(x).data[0] == pytest.approx(0.0, abs=1e-6) and F.gelu(x).data[24] == pytest.approx(6.0)


def test_gelu_tanh_against_formula(rng):
    x = t64(rng.standard_normal(20) * 2)
    v = x.data
    expected = 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").data, expected, rtol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_grad(approximate, rng):
    x = t64(rng.standard_normal((3, 4)) * 2)
    # the backward of "none" uses the exact Gaussian density while the forward uses the erf approximation,
    # so the two agree to the approximation's accuracy (~1e-7), not to rounding
    atol = 2e-6 if approximate == "none" else 1e-7
    gradcheck(lambda t: F.gelu(t, approximate=approximate), x, atol=atol)


def test_gelu_keeps_float32_and_rejects_bad_mode():
    assert F.gelu(mp.tensor([0.5, -0.5])).dtype == np.float32
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(mp.tensor([1.0]), approximate="fast")


# ---------------------------------------------------------------------- softmax family
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(axis, rng):
    x = t64(rng.standard_normal((3, 4, 2)))
    e = np.exp(x.data)
    np.testing.assert_allclose(F.softmax(x, axis=axis).data, e / e.sum(axis=axis, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(x, axis=axis).data,
                               np.log(e / e.sum(axis=axis, keepdims=True)), rtol=1e-12, atol=1e-14)
    gradcheck(lambda t: F.softmax(t, axis=axis), x)
    gradcheck(lambda t: F.log_softmax(t, axis=axis), x)


def test_softmax_family_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4 - 1.0], [-1e4, -1e4 + 2.0, -1e4]], dtype=np.float32)
    x = mp.tensor(logits, requires_grad=True)
    target = np.array([0, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
            p = F.softmax(x)
            lp = F.log_softmax(x)
            loss = F.cross_entropy(x, target, reduction="none")
            loss.sum().backward()
    for arr in (p.data, lp.data, loss.data, x.grad):
        assert np.all(np.isfinite(arr))
    # row 2: the shifted logits are (0, 0, −1); row 3: (−2, 0, −2)
    e2, e3 = np.exp([0.0, 0.0, -1.0]), np.exp([-2.0, 0.0, -2.0])
    np.testing.assert_allclose(p.data, [[1, 0, 0], e2 / e2.sum(), e3 / e3.sum()], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(lp.data[0], [0.0, -1e4, -2e4], rtol=1e-6)
    np.testing.assert_allclose(loss.data, [0.0, -np.log(e2[2] / e2.sum()), -np.log(e3[1] / e3.sum())], rtol=1e-5,
                               atol=1e-6)


# ---------------------------------------------------------------------- losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction, rng):
    x = t64(rng.standard_normal((5, 4)) * 3)
    target = np.array([0, 3, 3, 1, 2])
    per_sample = -log_softmax_ref(x.data)[np.arange(5), target]
    expected = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
    out = F.cross_entropy(x, target, reduction=reduction)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    gradcheck(lambda t: F.cross_entropy(t, target, reduction=reduction), x)


def test_cross_entropy_grad_is_softmax_minus_onehot():
    x = mp.tensor(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), requires_grad=True)
    F.cross_entropy(x, [2, 0]).backward()
    p = np.exp(x.data) / np.exp(x.data).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(x.grad, (p - np.eye(3)[[2, 0]]) / 2, rtol=1e-12)


def test_cross_entropy_float32_and_target_forms():
    x = mp.tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    for target in ([1, 2], np.array([1, 2], np.int32), np.array([1, 2], np.uint8), mp.tensor(np.array([1, 2]))):
        loss = F.cross_entropy(x, target)
        assert loss.dtype == np.float32
        assert loss.item() == pytest.approx(np.log(3), rel=1e-6)


@pytest.mark.parametrize("target, error, match", [
    (np.array([[0], [1]]), ValueError, "target"),
    (np.array([0, 1, 2]), ValueError, r"\(3,\)"),
    (np.array([0.0, 1.0]), TypeError, "float"),
    (np.array([True, False]), TypeError, "bool"),
    (np.array([0, 3]), ValueError, r"\[0, 2\]"),
    (np.array([-1, 0]), ValueError, "-1"),
])
@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_loss_target_errors(fn, target, error, match):
    x = mp.tensor(np.zeros((2, 3)))
    with pytest.raises(error, match=match):
        fn(x, target)


def test_loss_input_shape_and_reduction_errors():
    with pytest.raises(ValueError, match="(N, C)|input"):
        F.cross_entropy(mp.tensor(np.zeros(3)), np.array([0]))
    with pytest.raises(ValueError, match="input"):
        F.cross_entropy(mp.tensor(np.zeros((2, 3, 4))), np.array([0, 1]))
    for fn, args in [(F.cross_entropy, (np.zeros((2, 3)), [0, 1])), (F.nll_loss, (np.zeros((2, 3)), [0, 1])),
                     (F.mse_loss, (np.zeros(3), np.zeros(3)))]:
        with pytest.raises(ValueError, match="'average'"):
            fn(mp.tensor(args[0]), args[1], reduction="average")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction, rng):
    lp = t64(rng.standard_normal((4, 3)))
    target = np.array([2, 0, 2, 1])
    picked = -lp.data[np.arange(4), target]
    expected = {"mean": picked.mean(), "sum": picked.sum(), "none": picked}[reduction]
    np.testing.assert_allclose(F.nll_loss(lp, target, reduction=reduction).data, expected, rtol=1e-12)
    gradcheck(lambda t: F.nll_loss(t, target, reduction=reduction), lp)


def test_nll_of_log_softmax_equals_cross_entropy(rng):
    x = t64(rng.standard_normal((6, 5)))
    target = rng.integers(0, 5, 6)
    composite = F.nll_loss(F.log_softmax(x), target)
    composite.backward()
    g_composite, x.grad = x.grad, None
    fused = F.cross_entropy(x, target)
    fused.backward()
    np.testing.assert_allclose(fused.data, composite.data, rtol=1e-12)
    np.testing.assert_allclose(x.grad, g_composite, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction, rng):
    x, y = t64(rng.standard_normal((3, 4))), t64(rng.standard_normal((3, 4)))
    sq = (x.data - y.data) ** 2
    expected = {"mean": sq.mean(), "sum": sq.sum(), "none": sq}[reduction]
    np.testing.assert_allclose(F.mse_loss(x, y, reduction=reduction).data, expected, rtol=1e-12)
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, y)
    np.testing.assert_allclose(F.mse_loss(x, y.data, reduction=reduction).data, expected, rtol=1e-12)
    assert F.mse_loss(mp.tensor([1.0, 2.0]), np.array([0.0, 0.0])).dtype == np.float32


# ---------------------------------------------------------------------- linear
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape", [(5, 3), (2, 4, 3), (3,)], ids=str)
def test_linear(xshape, bias, rng):
    x, w = t64(rng.standard_normal(xshape)), t64(rng.standard_normal((4, 3)))
    b = t64(rng.standard_normal(4)) if bias else None
    expected = np.einsum("...i,oi->...o", x.data, w.data) + (b.data if bias else 0.0)
    out = F.linear(x, w, b)
    assert out.shape == xshape[:-1] + (4,)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    gradcheck(F.linear, *((x, w, b) if bias else (x, w)))


def test_linear_constant_input_gives_weight_grads_only(rng):
    x = mp.tensor(rng.standard_normal((3, 2)))
    w, b = t64(rng.standard_normal((4, 2))), t64(rng.standard_normal(4))
    F.linear(x, w, b).sum().backward()
    np.testing.assert_allclose(w.grad, np.ones((3, 4)).T @ x.data)
    np.testing.assert_allclose(b.grad, np.full(4, 3.0))
    assert x.grad is None


# ---------------------------------------------------------------------- conv2d
CONV_CASES = [  # (N, C, H, W), (O, C/G, kh, kw), stride, padding, groups, bias
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0, 1, True),
    ((2, 3, 6, 5), (2, 3, 3, 3), 2, 1, 1, False),
    ((1, 2, 5, 6), (3, 2, 2, 3), 1, 2, 1, True),          # non-square kernel, padding 2
    ((2, 4, 5, 5), (4, 2, 3, 2), 2, 0, 2, True),          # 2 groups, non-square kernel
    ((2, 3, 5, 4), (3, 1, 3, 3), 1, 1, 3, False),         # depthwise
    ((1, 2, 7, 6), (6, 1, 3, 3), (2, 1), (0, 1), 2, True),  # per-axis stride and padding
    ((1, 2, 4, 4), (3, 2, 1, 1), 1, 0, 1, True),          # 1×1 convolution
    ((2, 2, 6, 6), (2, 2, 3, 3), 3, 0, 1, True),          # stride larger than the overlap
]


def _conv_args(case, rng):
    xs, ws, stride, padding, groups, bias = case
    x, w = t64(rng.standard_normal(xs)), t64(rng.standard_normal(ws))
    b = t64(rng.standard_normal(ws[0])) if bias else None
    return x, w, b, stride, padding, groups


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_forward_against_naive_loops(case, rng):
    x, w, b, stride, padding, groups = _conv_args(case, rng)
    out = F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
    expected = naive_conv2d(x.data, w.data, None if b is None else b.data, F._pair(stride), F._pair(padding), groups)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_grad(case, rng):
    x, w, b, stride, padding, groups = _conv_args(case, rng)
    tensors = (x, w) if b is None else (x, w, b)
    gradcheck(lambda *t: F.conv2d(*t[:2], t[2] if len(t) > 2 else None, stride=stride, padding=padding,
                                  groups=groups), *tensors)


def test_conv2d_float32_and_constant_input(rng):
    x = mp.tensor(rng.standard_normal((1, 2, 4, 4)).astype(np.float32))
    w = mp.tensor(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), requires_grad=True)
    out = F.conv2d(x, w, padding=1)
    assert out.dtype == np.float32 and out.shape == (1, 3, 4, 4)
    out.sum().backward()
    assert x.grad is None and w.grad.dtype == np.float32 and w.grad.shape == w.shape


def test_conv2d_errors():
    x = mp.tensor(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match="3 channels"):
        F.conv2d(x, mp.tensor(np.zeros((2, 2, 3, 3))))
    with pytest.raises(ValueError, match="groups"):
        F.conv2d(mp.tensor(np.zeros((1, 4, 5, 5))), mp.tensor(np.zeros((3, 2, 3, 3))), groups=2)


# ---------------------------------------------------------------------- pooling
POOL_CASES = [  # kernel, stride, padding, input shape
    (2, None, 0, (2, 3, 6, 6)),
    (2, 1, 0, (1, 2, 5, 4)),
    (3, 2, 1, (2, 2, 7, 6)),
    (3, 1, 1, (1, 2, 5, 5)),
    (3, None, 0, (1, 1, 7, 8)),  # kernel 3 → stride 3, leftover rows/columns are dropped
    ((2, 3), (1, 2), (1, 1), (1, 2, 5, 6)),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pool_forward_against_naive_loops(case, kind, rng):
    kernel, stride, padding, shape = case
    x = t64(separated(shape, rng))
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    out = fn(x, kernel, stride, padding)
    expected = naive_pool2d(x.data, F._pair(kernel), F._pair(stride if stride is not None else kernel),
                            F._pair(padding), kind)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pool_grad(case, kind, rng):
    kernel, stride, padding, shape = case
    x = t64(separated(shape, rng))  # distinct values: no tie switches the max within ±ε
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    gradcheck(lambda t: fn(t, kernel, stride, padding), x)


def test_max_pool_tie_gradient_goes_to_the_first_maximum():
    x = mp.tensor(np.array([[[[1.0, 1.0], [1.0, 1.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[1.0, 0.0], [0.0, 0.0]]]])
    # overlapping windows (stride 1): each window's gradient goes to its own first maximum
    y = mp.tensor(np.array([[[[0.0, 5.0, 5.0]]]]), requires_grad=True)
    F.max_pool2d(y, (1, 2), stride=1).sum().backward()
    np.testing.assert_array_equal(y.grad, [[[[0.0, 2.0, 0.0]]]])


def test_avg_pool_counts_padding():
    x = mp.tensor(np.ones((1, 1, 2, 2)))
    out = F.avg_pool2d(x, 2, stride=2, padding=1)  # each corner window holds one real 1 and three zeros
    np.testing.assert_array_equal(out.data, np.full((1, 1, 2, 2), 0.25))


@pytest.mark.parametrize("output_size, shape", [(1, (2, 3, 4, 6)), (2, (1, 2, 4, 6)), ((2, 3), (1, 2, 4, 6)),
                                                ((4, 6), (1, 1, 4, 6))], ids=str)
def test_adaptive_avg_pool2d(output_size, shape, rng):
    x = t64(rng.standard_normal(shape))
    oh, ow = F._pair(output_size)
    n, c, h, w = shape
    expected = x.data.reshape(n, c, oh, h // oh, ow, w // ow).mean(axis=(3, 5))
    out = F.adaptive_avg_pool2d(x, output_size)
    assert out.shape == (n, c, oh, ow)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    gradcheck(lambda t: F.adaptive_avg_pool2d(t, output_size), x)


def test_adaptive_avg_pool2d_rejects_non_multiples():
    with pytest.raises(ValueError, match="multiple"):
        F.adaptive_avg_pool2d(mp.tensor(np.zeros((1, 1, 5, 4))), 2)


# ---------------------------------------------------------------------- batch norm
def _bn_reference(x, mean, var, gamma, beta, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 3, 4), (4, 3, 5)], ids=str)
def test_batch_norm_training_forward_and_grad(shape, rng):
    x = t64(rng.standard_normal(shape) * 2 + 1)
    gamma, beta = t64(rng.uniform(0.5, 2.0, shape[1])), t64(rng.standard_normal(shape[1]))
    axes = (0,) + tuple(range(2, len(shape)))
    out = F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    expected = _bn_reference(x.data, x.data.mean(axis=axes), x.data.var(axis=axes), gamma.data, beta.data, 1e-5)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    gradcheck(lambda *t: F.batch_norm(t[0], None, None, t[1], t[2], training=True), x, gamma, beta)
    gradcheck(lambda t: F.batch_norm(t, None, None, training=True), x)  # without affine parameters


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 2, 2)], ids=str)
def test_batch_norm_eval_uses_running_statistics(shape, rng):
    x = t64(rng.standard_normal(shape))
    rm, rv = rng.standard_normal(shape[1]), rng.uniform(0.5, 2.0, shape[1])
    rm_before, rv_before = rm.copy(), rv.copy()
    gamma, beta = t64(rng.uniform(0.5, 2.0, shape[1])), t64(rng.standard_normal(shape[1]))
    out = F.batch_norm(x, rm, rv, gamma, beta, training=False, eps=1e-3)
    np.testing.assert_allclose(out.data, _bn_reference(x.data, rm, rv, gamma.data, beta.data, 1e-3), rtol=1e-12)
    np.testing.assert_array_equal(rm, rm_before)
    np.testing.assert_array_equal(rv, rv_before)
    gradcheck(lambda *t: F.batch_norm(t[0], rm, rv, t[1], t[2], training=False), x, gamma, beta)


@pytest.mark.parametrize("shape", [(8, 3), (2, 3, 3, 2)], ids=str)
def test_batch_norm_running_statistics_update(shape, rng):
    x = mp.tensor(rng.standard_normal(shape).astype(np.float32) * 3 + 2)
    rm = np.array([0.5, -1.0, 2.0], np.float32)
    rv = np.array([1.0, 2.0, 0.5], np.float32)
    old_m, old_v = rm.copy(), rv.copy()
    m = 0.3
    F.batch_norm(x, rm, rv, training=True, momentum=m)
    axes = (0,) + tuple(range(2, len(shape)))
    data = x.data.astype(np.float64)
    n = data.size // shape[1]
    batch_mean = data.mean(axis=axes)
    unbiased_var = ((data - data.mean(axis=axes, keepdims=True)) ** 2).sum(axis=axes) / (n - 1)
    np.testing.assert_allclose(rm, (1 - m) * old_m + m * batch_mean, rtol=1e-5)
    np.testing.assert_allclose(rv, (1 - m) * old_v + m * unbiased_var, rtol=1e-5)
    assert rm.dtype == np.float32 and rv.dtype == np.float32  # updated in place
    # eval then normalises with exactly those running statistics
    out = F.batch_norm(x, rm, rv, training=False)
    np.testing.assert_allclose(out.data, _bn_reference(data, rm.astype(float), rv.astype(float), np.ones(3),
                                                       np.zeros(3), 1e-5), rtol=1e-4, atol=1e-5)


def test_batch_norm_needs_two_values_per_channel_in_training():
    with pytest.raises(ValueError, match="more than 1 value"):
        F.batch_norm(mp.tensor(np.zeros((1, 3))), None, None, training=True)
    rm = np.zeros(3)
    with pytest.raises(ValueError):
        F.batch_norm(mp.tensor(np.zeros((1, 3, 1, 1))), rm, np.ones(3), training=True)
    np.testing.assert_array_equal(rm, 0.0)  # the failed call did not touch the running statistics


# ---------------------------------------------------------------------- layer norm
@pytest.mark.parametrize("normalized_shape", [4, (4,), (3, 4)], ids=str)
def test_layer_norm(normalized_shape, rng):
    x = t64(rng.standard_normal((2, 3, 4)) * 2 + 1)
    nshape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    axes = tuple(range(-len(nshape), 0))
    w, b = t64(rng.uniform(0.5, 2, nshape)), t64(rng.standard_normal(nshape))
    mu, var = x.data.mean(axis=axes, keepdims=True), x.data.var(axis=axes, keepdims=True)
    plain = (x.data - mu) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(F.layer_norm(x, normalized_shape).data, plain, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(F.layer_norm(x, normalized_shape, w, b).data, plain * w.data + b.data, rtol=1e-10,
                               atol=1e-12)
    gradcheck(lambda t, u, v: F.layer_norm(t, normalized_shape, u, v), x, w, b)
    gradcheck(lambda t: F.layer_norm(t, normalized_shape), x)


# ---------------------------------------------------------------------- dropout and flatten
def test_dropout_values_and_fixed_mask_grad(rng):
    x = t64(rng.standard_normal((4, 5)))
    out = F.dropout(x, 0.3, training=True, rng=np.random.default_rng(7))
    keep = np.random.default_rng(7).random((4, 5)) >= 0.3
    np.testing.assert_allclose(out.data, np.where(keep, x.data / 0.7, 0.0), rtol=1e-12)
    # the mask comes from the generator, so a fresh generator with the same seed gives the same mask each call
    gradcheck(lambda t: F.dropout(t, 0.3, training=True, rng=np.random.default_rng(7)), x)
    x.grad = None
    F.dropout(x, 0.3, training=True, rng=np.random.default_rng(7)).sum().backward()
    np.testing.assert_allclose(x.grad, keep / 0.7)


def test_dropout_rate_and_expectation():
    x = mp.tensor(np.ones(20_000, np.float32))
    out = F.dropout(x, 0.25, training=True, rng=np.random.default_rng(0))
    assert out.dtype == np.float32
    assert np.mean(out.data == 0) == pytest.approx(0.25, abs=0.015)
    assert set(np.unique(out.data)) <= {0.0, np.float32(1 / 0.75)}
    assert out.data.mean() == pytest.approx(1.0, abs=0.02)  # inverted dropout keeps the expectation


def test_dropout_identity_and_errors(rng):
    x = mp.tensor(rng.standard_normal(5))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, training=True, rng=rng) is x
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="p"):
            F.dropout(x, p, training=True, rng=rng)
    with pytest.raises(ValueError, match="rng"):
        F.dropout(x, 0.5, training=True)


def test_flatten(rng):
    x = t64(rng.standard_normal((2, 3, 2, 2)))
    assert F.flatten(x).shape == (2, 12)
    assert F.flatten(x, 2).shape == (2, 3, 4)
    assert F.flatten(x, 0).shape == (24,)
    np.testing.assert_array_equal(F.flatten(x).data, x.data.reshape(2, 12))
    gradcheck(F.flatten, x)
