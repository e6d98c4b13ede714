"""Tests of the autograd engine (minprune/tensor.py).

Every op's backward is checked in float64 against central finite differences (tests/helpers.py); the two
helpers ``unbroadcast`` and ``matmul_backward`` are checked against results worked out by hand.
"""
import copy
import pickle
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minprune as mp
from minprune.tensor import Tensor, matmul_backward, unbroadcast
from helpers import gradcheck, numerical_grad, separated, t64


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def randn(rng, *shape):
    return rng.standard_normal(shape)


def away_from_zero(rng, *shape, low=0.5, high=2.0):
    """Values with |v| in [low, high] and random sign (safe denominators)."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


# ---------------------------------------------------------------------- the checker itself can fail
def test_gradcheck_rejects_a_wrong_backward():
    """A gradient off by a factor of 2 must be caught, otherwise every gradcheck below proves nothing."""
    x = t64([0.3, -1.2, 2.0])

    def wrong_square(t):
        return t._result(t.data ** 2, (t,), lambda g: (g * t.data,), "wrong_square")  # should be 2·x·g

    with pytest.raises(AssertionError):
        gradcheck(wrong_square, x)
    gradcheck(lambda t: t * t, x)


def test_numerical_grad_of_a_known_function():
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(numerical_grad(lambda: np.sum(np.sin(x) * x), x),
                               np.cos(x) * x + np.sin(x), atol=1e-8)
    np.testing.assert_array_equal(x, [0.5, -1.0, 2.0])  # restored after perturbation


# ---------------------------------------------------------------------- construction and dtypes
def test_python_lists_and_scalars_become_float32():
    assert mp.tensor([1.0, 2.0]).dtype == np.float32
    assert mp.tensor([[1.5]]).dtype == np.float32
    assert mp.tensor(3.0).dtype == np.float32
    assert mp.tensor(3.0).shape == ()


def test_python_ints_stay_integer():
    assert mp.tensor([1, 2, 3]).dtype.kind == "i"


def test_numpy_arrays_keep_their_dtype():
    a64 = np.ones((2, 3))
    assert mp.tensor(a64).dtype == np.float64
    assert Tensor(a64).data is a64  # no copy
    assert mp.tensor(np.arange(3, dtype=np.int32)).dtype == np.int32
    assert mp.tensor(np.arange(3, dtype=np.int64)).dtype == np.int64
    assert mp.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert mp.tensor(a64, dtype=np.float32).dtype == np.float32
    assert mp.tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_attributes():
    x = mp.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.numpy() is x.data
    assert x.grad is None and x.requires_grad
    assert mp.tensor([[4.0]]).item() == 4.0
    assert "requires_grad=True" in repr(x)


def test_scalar_arithmetic_keeps_float32():
    x = mp.tensor([1.0, 2.0], requires_grad=True)
    for y in (x * 2, 2 * x, x + 1.5, 1.5 - x, x / 3, 3 / x, x ** 2, -x, x * np.float64(2.0)):
        assert y.dtype == np.float32, y
    y = x * np.array([1, 2])  # an integer array next to a float tensor takes its dtype
    assert y.dtype == np.float32


def test_integer_tensor_with_float_scalar_is_not_truncated():
    labels = mp.tensor(np.array([1, 2, 4]))
    np.testing.assert_allclose((labels * 0.5).data, [0.5, 1.0, 2.0])
    np.testing.assert_allclose((0.5 * labels).data, [0.5, 1.0, 2.0])
    np.testing.assert_allclose((labels / 2).data, [0.5, 1.0, 2.0])
    assert labels.mean().item() == pytest.approx(7 / 3)
    assert (labels + 1).dtype.kind == "i"


def test_comparisons_give_boolean_arrays():
    x = mp.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(x > 1.5, [False, True, True])
    np.testing.assert_array_equal(x <= mp.tensor([1.0, 1.0, 3.0]), [True, False, True])
    assert isinstance(x < 2, np.ndarray)


# ---------------------------------------------------------------------- unbroadcast and matmul_backward by hand
def test_unbroadcast_by_hand():
    g = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(unbroadcast(g, (2, 3)), g)
    np.testing.assert_array_equal(unbroadcast(g, (3,)), [5.0, 7.0, 9.0])
    np.testing.assert_array_equal(unbroadcast(g, (1, 3)), [[5.0, 7.0, 9.0]])
    np.testing.assert_array_equal(unbroadcast(g, (2, 1)), [[6.0], [15.0]])
    np.testing.assert_array_equal(unbroadcast(g, (1, 1)), [[21.0]])
    assert unbroadcast(g, ()).shape == () and unbroadcast(g, ()) == 21.0
    # the docstring's example: (3, 1) broadcast against (4, 3, 5) was used 4 × 5 = 20 times per element
    np.testing.assert_array_equal(unbroadcast(np.ones((4, 3, 5)), (3, 1)), np.full((3, 1), 20.0))
    # a size-1 axis of the gradient that was not stretched stays
    np.testing.assert_array_equal(unbroadcast(np.ones((2, 1, 3)), (1, 1, 3)), np.full((1, 1, 3), 2.0))


def test_matmul_backward_by_hand():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[5.0, 6.0], [7.0, 8.0]])
    grad = np.array([[1.0, 0.0], [0.0, 2.0]])
    ga, gb = matmul_backward(a, b, grad)
    # dA = grad @ Bᵀ = [[5, 7], [2·6, 2·8]];  dB = Aᵀ @ grad = [[1, 2·3], [2, 2·4]]
    np.testing.assert_array_equal(ga, [[5.0, 7.0], [12.0, 16.0]])
    np.testing.assert_array_equal(gb, [[1.0, 6.0], [2.0, 8.0]])


def test_matmul_backward_non_square_and_broadcast_batch_by_hand():
    a = np.array([[1.0, 2.0, 3.0]])            # (1, 3)
    b = np.array([[1.0], [0.0], [-1.0]])       # (3, 1)
    ga, gb = matmul_backward(a, b, np.array([[2.0]]))
    np.testing.assert_array_equal(ga, [[2.0, 0.0, -2.0]])
    np.testing.assert_array_equal(gb, [[2.0], [4.0], [6.0]])
    # a batch of two (1, 2) rows times one shared (2, 1) matrix: the shared b collects both batches
    a = np.array([[[1.0, 2.0]], [[3.0, 4.0]]])  # (2, 1, 2)
    b = np.array([[1.0], [1.0]])                # (2, 1)
    ga, gb = matmul_backward(a, b, np.ones((2, 1, 1)))
    assert ga.shape == (2, 1, 2) and gb.shape == (2, 1)
    np.testing.assert_array_equal(ga, np.ones((2, 1, 2)))
    np.testing.assert_array_equal(gb, [[1.0 + 3.0], [2.0 + 4.0]])


# ---------------------------------------------------------------------- binary arithmetic
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 3, 4), (3, 1)), ((3, 1), (2, 1, 4)),
          ((3, 1), (1, 4)), ((), (3, 2)), ((3, 2), ()), ((1,), (2, 3))]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_op_grad_with_broadcasting(op, shapes, rng):
    a, b = t64(away_from_zero(rng, *shapes[0])), t64(away_from_zero(rng, *shapes[1]))
    out = BINARY[op](a, b)
    np.testing.assert_allclose(out.data, BINARY[op](a.data, b.data))
    gradcheck(BINARY[op], a, b)


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_op_with_python_scalar_on_either_side(op, rng):
    x = t64(away_from_zero(rng, 2, 3))
    np.testing.assert_allclose(BINARY[op](x, 1.7).data, BINARY[op](x.data, 1.7))
    np.testing.assert_allclose(BINARY[op](1.7, x).data, BINARY[op](1.7, x.data))
    gradcheck(lambda t: BINARY[op](t, 1.7), x)
    gradcheck(lambda t: BINARY[op](1.7, t), x)


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_op_with_numpy_array_on_the_left(op, rng):
    arr = away_from_zero(rng, 4, 3)
    x = t64(away_from_zero(rng, 3))
    out = BINARY[op](arr, x)
    assert isinstance(out, Tensor), "ndarray (op) Tensor must give a Tensor (Tensor.__array_priority__)"
    assert out.shape == (4, 3) and out.requires_grad
    np.testing.assert_allclose(out.data, BINARY[op](arr, x.data))
    gradcheck(lambda t: BINARY[op](arr, t), x)


def test_numpy_array_left_matmul(rng):
    arr = randn(rng, 2, 3)
    w = t64(randn(rng, 3, 4))
    out = arr @ w
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, arr @ w.data)
    gradcheck(lambda t: arr @ t, w)


def test_both_operands_constant_records_nothing():
    y = mp.tensor([1.0]) + mp.tensor([2.0])
    assert not y.requires_grad and y._parents == ()


def test_gradient_reaches_only_tensors_that_require_it(rng):
    a, b = t64(randn(rng, 3)), t64(randn(rng, 3), requires_grad=False)
    (a * b).sum().backward()
    np.testing.assert_allclose(a.grad, b.data)
    assert b.grad is None


@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       op=st.sampled_from(["add", "sub", "mul", "div"]), seed=st.integers(0, 2 ** 16))
def test_broadcasting_grad_property(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a, b = (t64(away_from_zero(rng, *s)) for s in shapes.input_shapes)
    out = BINARY[op](a, b)
    assert out.shape == shapes.result_shape
    gradcheck(BINARY[op], a, b)


# ---------------------------------------------------------------------- unary and pow
def test_neg(rng):
    x = t64(randn(rng, 2, 3))
    np.testing.assert_array_equal((-x).data, -x.data)
    gradcheck(lambda t: -t, x)


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1, 1.5, -2.5, 1])
def test_pow(exponent, rng):
    x = t64(rng.uniform(0.5, 2.0, (2, 3)))
    np.testing.assert_allclose((x ** exponent).data, x.data ** exponent)
    gradcheck(lambda t: t ** exponent, x)


def test_pow_negative_base_integer_exponent(rng):
    x = t64(away_from_zero(rng, 5))
    gradcheck(lambda t: t ** 3, x)


def test_pow_rejects_tensor_exponent():
    with pytest.raises(TypeError, match="exponent"):
        mp.tensor([1.0]) ** mp.tensor([2.0])


# ---------------------------------------------------------------------- matmul
@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((1, 4), (4, 1)), ((2, 3, 4), (2, 4, 5)),
                                    ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2))],
                         ids=str)
def test_matmul_grad(shapes, rng):
    a, b = t64(randn(rng, *shapes[0])), t64(randn(rng, *shapes[1]))
    out = a @ b
    np.testing.assert_allclose(out.data, np.matmul(a.data, b.data))
    gradcheck(lambda u, v: u @ v, a, b)


def test_matmul_rejects_vectors():
    with pytest.raises(ValueError, match="matmul"):
        mp.tensor([1.0, 2.0]) @ mp.tensor([[1.0], [2.0]])


# ---------------------------------------------------------------------- reductions
AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2), (-1, 0)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean(name, axis, keepdims, rng):
    x = t64(randn(rng, 2, 3, 4))
    out = getattr(x, name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x.data, axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected)
    gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min(name, axis, keepdims, rng):
    x = t64(separated((2, 3, 4), rng))  # distinct values: the arg-max does not switch within ±ε
    out = getattr(x, name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x.data, axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)
    gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x)


def test_max_ties_share_the_gradient():
    x = mp.tensor(np.array([[1.0, 3.0, 3.0], [5.0, 2.0, 5.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])
    y = mp.tensor(np.array([2.0, 2.0, 1.0, 2.0]), requires_grad=True)
    y.max().backward()
    np.testing.assert_allclose(y.grad, [1 / 3, 1 / 3, 0.0, 1 / 3])
    z = mp.tensor(np.array([0.0, -1.0, -1.0]), requires_grad=True)
    z.min().backward()
    np.testing.assert_array_equal(z.grad, [0.0, 0.5, 0.5])


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
def test_var(axis, keepdims, unbiased, rng):
    x = t64(randn(rng, 2, 3, 4))
    out = x.var(axis=axis, keepdims=keepdims, unbiased=unbiased)
    np.testing.assert_allclose(out.data, np.var(x.data, axis=axis, keepdims=keepdims, ddof=int(unbiased)))
    gradcheck(lambda t: t.var(axis=axis, keepdims=keepdims, unbiased=unbiased), x)


# ---------------------------------------------------------------------- shape ops
@pytest.mark.parametrize("shape", [(6, 4), (-1,), (4, 3, 2), (2, -1, 2), (24, 1)], ids=str)
def test_reshape(shape, rng):
    x = t64(randn(rng, 2, 3, 4))
    np.testing.assert_array_equal(x.reshape(*shape).data, x.data.reshape(shape))
    np.testing.assert_array_equal(x.reshape(shape).data, x.data.reshape(shape))  # a tuple works too
    gradcheck(lambda t: t.reshape(*shape), x)


@pytest.mark.parametrize("axes", [(), (2, 0, 1), (1, 0, 2), (0, 2, 1), (0, -1, -2), (-1, -3, -2)], ids=str)
def test_transpose_and_permute(axes, rng):
    x = t64(randn(rng, 2, 3, 4))
    expected = x.data.transpose(axes or None)
    np.testing.assert_array_equal(x.transpose(*axes).data, expected)
    np.testing.assert_array_equal(x.permute(*axes).data, expected)
    if axes:
        np.testing.assert_array_equal(x.transpose(axes).data, expected)  # one tuple argument
    gradcheck(lambda t: t.transpose(*axes), x)
    gradcheck(lambda t: t.permute(*axes), x)


def test_T(rng):
    x = t64(randn(rng, 3, 5))
    np.testing.assert_array_equal(x.T.data, x.data.T)
    gradcheck(lambda t: t.T, x)
    y = t64(randn(rng, 2, 3, 4))
    assert y.T.shape == (4, 3, 2)
    gradcheck(lambda t: t.T, y)


# ---------------------------------------------------------------------- indexing
BASIC_INDICES = [np.s_[1], np.s_[1:], np.s_[:, ::2], np.s_[::-1, 1], np.s_[..., 1], np.s_[None, 0, 1:3],
                 np.s_[-1, -2:, :]]
ADVANCED_INDICES = [np.s_[[0, 0, 2]], np.s_[np.array([[0, 1], [1, 1]])], np.s_[[0, 0], [1, 1]],
                    np.s_[np.array([2, 2, 0]), 1:], np.s_[:, np.array([3, 3, 3, 0])],
                    np.s_[np.array([True, False, True])], np.s_[[True, True, False], 0]]


@pytest.mark.parametrize("index", BASIC_INDICES + ADVANCED_INDICES, ids=str)
def test_getitem(index, rng):
    x = t64(randn(rng, 3, 4, 2))
    np.testing.assert_array_equal(x[index].data, x.data[index])
    gradcheck(lambda t: t[index], x)


def test_getitem_repeated_indices_accumulate():
    x = mp.tensor(np.zeros(4), requires_grad=True)
    x[np.array([0, 2, 2, 2, 3, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 3.0, 1.0])


def test_getitem_boolean_mask(rng):
    data = separated((3, 4), rng)
    x = t64(data)
    mask = data > 0
    np.testing.assert_array_equal(x[mask].data, data[mask])
    gradcheck(lambda t: t[mask], x)
    x.grad = None
    x[mask].sum().backward()
    np.testing.assert_array_equal(x.grad, mask.astype(float))


def test_getitem_with_tensor_index():
    x = mp.tensor(np.arange(3.0), requires_grad=True)
    x[mp.tensor(np.array([1, 1]))].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 2.0, 0.0])


# ---------------------------------------------------------------------- elementwise functions
def test_exp_log_sqrt_tanh(rng):
    x = t64(randn(rng, 3, 4))
    positive = t64(rng.uniform(0.2, 3.0, (3, 4)))
    for name, inp, ref in [("exp", x, np.exp), ("tanh", x, np.tanh), ("sigmoid", x, lambda v: 1 / (1 + np.exp(-v))),
                           ("log", positive, np.log), ("sqrt", positive, np.sqrt)]:
        np.testing.assert_allclose(getattr(inp, name)().data, ref(inp.data), rtol=1e-12, err_msg=name)
        gradcheck(lambda t: getattr(t, name)(), inp)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_large_inputs_without_overflow(dtype):
    x = mp.tensor(np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would warn
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = x.sigmoid()
            y.sum().backward()
    assert y.dtype == dtype
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(y.data, [0.0, 0.0, 1.9287e-22, 0.5, 1.0, 1.0, 1.0], rtol=1e-3, atol=1e-30)
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 1.9287e-22, 0.25, 0.0, 0.0, 0.0], rtol=1e-3, atol=1e-30)
    assert np.all((y.data >= 0) & (y.data <= 1))


def test_relu_abs(rng):
    x = t64(separated((3, 4), rng))
    np.testing.assert_array_equal(x.relu().data, np.maximum(x.data, 0))
    np.testing.assert_array_equal(x.abs().data, np.abs(x.data))
    gradcheck(lambda t: t.relu(), x)
    gradcheck(lambda t: t.abs(), x)


@pytest.mark.parametrize("low, high", [(-0.5, 0.7), (-0.5, None), (None, 0.7)])
def test_clip(low, high, rng):
    x = t64(separated((4, 5), rng, -1.5, 1.5))
    assert np.min(np.abs(x.data[..., None] - [-0.5, 0.7])) > 1e-4  # no value on a bound (a kink)
    np.testing.assert_array_equal(x.clip(low, high).data, np.clip(x.data, low, high))
    grads = gradcheck(lambda t: t.clip(low, high), x)
    inside = np.ones(x.shape, bool)
    if low is not None:
        inside &= x.data > low
    if high is not None:
        inside &= x.data < high
    assert np.all(grads[0][~inside] == 0)


def test_where_maximum(rng):
    a, b = t64(separated((3, 4), rng)), t64(separated((4,), rng))
    cond = rng.random((3, 4)) > 0.5
    np.testing.assert_array_equal(mp.where(cond, a, b).data, np.where(cond, a.data, b.data))
    gradcheck(lambda u, v: mp.where(cond, u, v), a, b)
    gradcheck(lambda u: mp.where(cond, u, 0.0), a)
    gradcheck(lambda v: mp.where(cond, 1.5, v), b)
    gradcheck(lambda u: mp.where(mp.tensor(cond), u, -u), a)
    np.testing.assert_array_equal(mp.maximum(a, b).data, np.maximum(a.data, b.data))
    gradcheck(lambda u, v: mp.maximum(u, v), a, b)
    gradcheck(lambda u: mp.maximum(u, 0.1234), a)
    gradcheck(lambda v: mp.maximum(0.1234, v), b)


def test_maximum_tie_goes_to_the_first_argument():
    a = mp.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mp.tensor(np.array([1.0, 3.0]), requires_grad=True)
    mp.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0])
    np.testing.assert_array_equal(b.grad, [0.0, 1.0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis, rng):
    shapes = {0: [(1, 3, 2), (2, 3, 2), (3, 3, 2)], 1: [(2, 1, 2), (2, 3, 2), (2, 2, 2)],
              -1: [(2, 3, 1), (2, 3, 3), (2, 3, 2)]}[axis]
    ts = [t64(randn(rng, *s)) for s in shapes]
    ts[1].requires_grad = False  # a constant in the middle still shifts the offsets correctly
    out = mp.concatenate(ts, axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate([t.data for t in ts], axis=axis))
    gradcheck(lambda *xs: mp.concatenate(xs, axis=axis), *ts)
    assert ts[1].grad is None


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack(axis, rng):
    ts = [t64(randn(rng, 2, 3)) for _ in range(3)]
    out = mp.stack(ts, axis=axis)
    np.testing.assert_array_equal(out.data, np.stack([t.data for t in ts], axis=axis))
    gradcheck(lambda *xs: mp.stack(xs, axis=axis), *ts)


# ---------------------------------------------------------------------- the backward pass
def test_tensor_used_twice_accumulates(rng):
    x = t64(randn(rng, 3))
    y = x * x + x  # dy/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)
    gradcheck(lambda t: t * t + t, x)


def test_diamond_graph(rng):
    x = t64(randn(rng, 3))

    def f(t):
        h = t.exp()
        return (h * 2) * (h + 1)  # two paths from h to the output: d/dt = (4h + 2)·h

    gradcheck(f, x)
    x.grad = None
    f(x).sum().backward()
    e = np.exp(x.data)
    np.testing.assert_allclose(x.grad, (4 * e + 2) * e)


def test_grad_accumulates_across_backward_calls(rng):
    x = t64(randn(rng, 3))
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 3 + 2 * x.data)
    x.zero_grad()
    assert x.grad is None


def test_same_graph_backward_twice_accumulates():
    x = mp.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_grad_keeps_the_tensor_dtype_across_accumulations():
    w = mp.tensor(np.ones(3, np.float32), requires_grad=True)
    for _ in range(2):
        (w * np.ones(3)).sum().backward()  # the float64 operand makes the incoming gradient float64
        assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [2.0, 2.0, 2.0])


def test_grad_is_not_aliased_with_the_upstream_gradient():
    x = mp.tensor(np.array([1.0, 2.0]), requires_grad=True)
    upstream = np.array([5.0, 7.0])
    x.backward(upstream)
    x.grad += 1
    np.testing.assert_array_equal(upstream, [5.0, 7.0])


def test_intermediate_grads_are_not_kept_unless_retained(rng):
    x = t64(randn(rng, 3))
    h = x * 2
    k = h * 3
    k.retain_grad()
    (k * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, 2 * k.data)
    np.testing.assert_allclose(x.grad, 2 * k.data * 6)


def test_backward_needs_a_scalar_or_an_explicit_grad(rng):
    x = t64(randn(rng, 2, 3))
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))
    x.grad = None
    y.backward(mp.tensor(np.full((2, 3), 0.5)))  # a Tensor as the upstream gradient
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="require"):
        mp.tensor([1.0, 2.0]).sum().backward()


def test_backward_on_a_leaf():
    x = mp.tensor(np.array(3.0), requires_grad=True)
    x.backward()
    assert x.grad == 1.0


def test_no_grad_records_nothing(rng):
    x = t64(randn(rng, 3))
    assert mp.is_grad_enabled()
    with mp.no_grad():
        assert not mp.is_grad_enabled()
        y = (x * 2).exp().sum()
        with mp.no_grad():
            pass
        assert not mp.is_grad_enabled()  # an inner block does not re-enable
    assert mp.is_grad_enabled()
    assert not y.requires_grad and y._parents == () and y._backward is None
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_restores_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with mp.no_grad():
            1 / 0
    assert mp.is_grad_enabled()


def test_deep_chain_has_no_recursion_limit():
    x = mp.tensor(np.array(1.0), requires_grad=True)
    y = x
    n = max(10_000, sys.getrecursionlimit() + 1)
    for _ in range(n):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** n, rel=1e-9)


def test_detach_shares_data_without_graph(rng):
    x = t64(randn(rng, 3))
    d = (x * 2).detach()
    assert not d.requires_grad and d._parents == ()
    np.testing.assert_array_equal(d.data, 2 * x.data)


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))],
                         ids=["deepcopy", "pickle"])
def test_copy_of_a_non_leaf_is_a_leaf_with_the_same_data(copier, rng):
    x = t64(randn(rng, 3))
    y = x * 2 + 1
    c = copier(y)
    assert isinstance(c, Tensor)
    np.testing.assert_array_equal(c.data, y.data)
    assert c.data is not y.data and c.dtype == y.dtype
    assert c._parents == () and c._backward is None and c.requires_grad
    c.sum().backward()
    np.testing.assert_array_equal(c.grad, np.ones(3))
    assert x.grad is None  # the copy is not connected to x


def test_copy_of_a_leaf_keeps_grad_and_parameter_class():
    p = mp.nn.Parameter(np.array([1.0, 2.0]))
    p.grad = np.array([0.5, 0.5])
    for c in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert type(c) is mp.nn.Parameter and c.requires_grad
        np.testing.assert_array_equal(c.data, p.data)
        np.testing.assert_array_equal(c.grad, p.grad)
