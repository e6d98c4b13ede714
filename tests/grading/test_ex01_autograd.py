"""Grader for exercise 01 (lesson 01_autograd): ``unbroadcast`` (01.1) and ``matmul_backward`` (01.2).

Every expected value is computed here independently of minprune, from the definition of the gradient:

- broadcasting ``x`` (shape ``shape``) to ``grad.shape`` is linear, so the gradient of ``L = Σ grad ⊙ broadcast(x)``
  with respect to ``x[j]`` is ``Σ grad ⊙ broadcast(e_j)`` for the one-hot array ``e_j`` (:func:`adjoint_of_broadcast`);
- ``L = Σ grad ⊙ (a @ b)`` is linear in ``a`` and in ``b``, so ``dL/da[j] = Σ grad ⊙ (e_j @ b)`` exactly
  (:func:`matmul_gradients_by_definition`), which also covers broadcast batch dimensions without any summing logic.
"""

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ex01


# ---------------------------------------------------------------------------------------------------------------
# Independent reference computations (loops over the few elements of small arrays)
# ---------------------------------------------------------------------------------------------------------------

def adjoint_of_broadcast(grad, shape):
    """dL/dx for L = Σ grad ⊙ broadcast_to(x, grad.shape): one one-hot probe per element of x."""
    out = np.zeros(shape, dtype=np.float64)
    for j in np.ndindex(*shape):
        probe = np.zeros(shape)
        probe[j] = 1.0
        out[j] = np.sum(grad * np.broadcast_to(probe, grad.shape))
    return out


def matmul_gradients_by_definition(a, b, grad):
    """(dL/da, dL/db) for L = Σ grad ⊙ (a @ b), one one-hot probe per element of a and of b."""
    grad_a = np.zeros(a.shape)
    for j in np.ndindex(*a.shape):
        probe = np.zeros(a.shape)
        probe[j] = 1.0
        grad_a[j] = np.sum(grad * (probe @ b))
    grad_b = np.zeros(b.shape)
    for j in np.ndindex(*b.shape):
        probe = np.zeros(b.shape)
        probe[j] = 1.0
        grad_b[j] = np.sum(grad * (a @ probe))
    return grad_a, grad_b


def check_unbroadcast(impl, grad, shape):
    before = grad.copy()
    result = np.asarray(impl.unbroadcast(grad, shape))
    assert result.shape == tuple(shape), f"unbroadcast(grad of shape {grad.shape}, {shape}) has shape {result.shape}"
    np.testing.assert_allclose(result, adjoint_of_broadcast(grad, shape), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(grad, before, err_msg="unbroadcast must not modify its `grad` argument")


def check_matmul_backward(impl, a, b, grad):
    result = impl.matmul_backward(a, b, grad)
    assert isinstance(result, tuple) and len(result) == 2, "matmul_backward returns a tuple (grad_a, grad_b)"
    grad_a, grad_b = map(np.asarray, result)
    assert grad_a.shape == a.shape, f"grad_a has shape {grad_a.shape}, but a has shape {a.shape}"
    assert grad_b.shape == b.shape, f"grad_b has shape {grad_b.shape}, but b has shape {b.shape}"
    want_a, want_b = matmul_gradients_by_definition(a, b, grad)
    np.testing.assert_allclose(grad_a, want_a, rtol=1e-10, atol=1e-12, err_msg="wrong gradient for a")
    np.testing.assert_allclose(grad_b, want_b, rtol=1e-10, atol=1e-12, err_msg="wrong gradient for b")


def arange(*shape):
    """Distinct, non-constant values (so taking one slice, or the mean, cannot pass for the sum)."""
    return np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape) ** 1.5


# ---------------------------------------------------------------------------------------------------------------
# 01.1 unbroadcast
# ---------------------------------------------------------------------------------------------------------------

def test_unbroadcast_docstring_example(impl):
    result = np.asarray(impl.unbroadcast(np.ones((4, 3, 5)), (3, 1)))
    assert result.shape == (3, 1)
    np.testing.assert_array_equal(result, np.full((3, 1), 20.0))


def test_unbroadcast_same_shape_is_unchanged(impl):
    grad = arange(2, 3)
    np.testing.assert_array_equal(impl.unbroadcast(grad, (2, 3)), grad)


def test_unbroadcast_hand_values(impl):
    grad = np.array([[1.0, 2.0, 3.0],
                     [4.0, 5.0, 6.0]])
    # a bias of shape (3,) added to every row: sum over the rows
    np.testing.assert_array_equal(impl.unbroadcast(grad, (3,)), [5.0, 7.0, 9.0])
    # a column (2, 1) stretched along the rows: sum along each row, keep the column shape
    np.testing.assert_array_equal(impl.unbroadcast(grad, (2, 1)), [[6.0], [15.0]])
    # a row (1, 3) stretched down: sum each column, keep the row shape
    np.testing.assert_array_equal(impl.unbroadcast(grad, (1, 3)), [[5.0, 7.0, 9.0]])
    # a scalar used everywhere: the sum of everything
    assert float(np.asarray(impl.unbroadcast(grad, ()))) == 21.0


def test_unbroadcast_leading_dims_only(impl):
    check_unbroadcast(impl, arange(4, 3), (3,))
    check_unbroadcast(impl, arange(2, 3, 4), (4,))
    check_unbroadcast(impl, arange(2, 3, 4), (3, 4))


def test_unbroadcast_stretched_dims_only(impl):
    check_unbroadcast(impl, arange(3, 4), (3, 1))
    check_unbroadcast(impl, arange(3, 4), (1, 4))
    check_unbroadcast(impl, arange(2, 3, 4), (2, 1, 4))
    check_unbroadcast(impl, arange(2, 3, 4), (1, 3, 1))
    check_unbroadcast(impl, arange(2, 3), (1, 1))


def test_unbroadcast_leading_and_stretched_dims(impl):
    check_unbroadcast(impl, arange(4, 3, 5), (3, 1))
    check_unbroadcast(impl, arange(5, 2, 3, 4), (2, 1, 4))
    check_unbroadcast(impl, arange(2, 3, 4), (1, 4))
    check_unbroadcast(impl, arange(2, 3, 4), (1, 1))


def test_unbroadcast_keeps_genuine_size_one_dims(impl):
    # a size-1 dim that was size 1 in the gradient too was not stretched: nothing to sum there
    check_unbroadcast(impl, arange(3, 1, 4), (3, 1, 4))
    check_unbroadcast(impl, arange(2, 3, 1), (3, 1))
    check_unbroadcast(impl, arange(1, 4), (4,))


def test_unbroadcast_to_scalar_shape(impl):
    check_unbroadcast(impl, arange(2, 3), ())
    check_unbroadcast(impl, arange(5), ())


@st.composite
def broadcast_pairs(draw):
    """(shape of x, shape it was broadcast to): x's dims of size 1 may be stretched, leading dims may be added."""
    small = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    stretched = [draw(st.integers(1, 3)) if n == 1 else n for n in small]
    leading = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    return tuple(small), tuple(leading + stretched)


# no "explain" phase: it only annotates failures, and costs seconds of imports when a student's answer fails
@settings(max_examples=40, deadline=None, database=None,
          phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink))
@given(pair=broadcast_pairs(), seed=st.integers(0, 2**16))
def test_unbroadcast_random_shapes(impl, pair, seed):
    shape, big = pair
    grad = np.random.default_rng(seed).standard_normal(big)
    check_unbroadcast(impl, grad, shape)


def test_unbroadcast_float32_values(impl):
    grad = arange(4, 3, 5).astype(np.float32)
    result = np.asarray(impl.unbroadcast(grad, (3, 1)))
    np.testing.assert_allclose(result, adjoint_of_broadcast(grad.astype(np.float64), (3, 1)), rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# 01.2 matmul_backward
# ---------------------------------------------------------------------------------------------------------------

def test_matmul_backward_hand_values(impl):
    a = np.array([[1.0, 2.0],
                  [3.0, 4.0]])
    b = np.array([[5.0, 6.0],
                  [7.0, 8.0]])
    grad = np.array([[1.0, 0.0],
                     [0.0, 0.0]])  # only C[0, 0] = a[0] · b[:, 0] matters
    grad_a, grad_b = impl.matmul_backward(a, b, grad)
    np.testing.assert_array_equal(grad_a, [[5.0, 7.0], [0.0, 0.0]])  # dC00/da[0, k] = b[k, 0]
    np.testing.assert_array_equal(grad_b, [[1.0, 0.0], [2.0, 0.0]])  # dC00/db[k, 0] = a[0, k]


def test_matmul_backward_square(impl):
    # square matrices: a missing transpose or a swapped order gives the right shapes but wrong values
    rng = np.random.default_rng(1)
    check_matmul_backward(impl, rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal((3, 3)))


def test_matmul_backward_rectangular(impl):
    rng = np.random.default_rng(2)
    check_matmul_backward(impl, rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 4)))
    check_matmul_backward(impl, rng.standard_normal((5, 1)), rng.standard_normal((1, 3)), rng.standard_normal((5, 3)))


def test_matmul_backward_batched(impl):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 3, 5))
    check_matmul_backward(impl, a, b, rng.standard_normal((4, 2, 5)))
    # square per-batch matrices: transposing *all* axes (.T) instead of the last two gives wrong values
    a, b = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 3))
    check_matmul_backward(impl, a, b, rng.standard_normal((2, 3, 3)))


def test_matmul_backward_broadcast_batch(impl):
    rng = np.random.default_rng(4)
    # one weight matrix shared by a batch of inputs: its gradient sums over the batch
    check_matmul_backward(impl, rng.standard_normal((4, 2, 3)), rng.standard_normal((3, 5)),
                          rng.standard_normal((4, 2, 5)))
    # and the other way round
    check_matmul_backward(impl, rng.standard_normal((2, 3)), rng.standard_normal((4, 3, 5)),
                          rng.standard_normal((4, 2, 5)))
    # batch dims stretched from size 1 on both sides
    check_matmul_backward(impl, rng.standard_normal((2, 1, 2, 3)), rng.standard_normal((3, 3, 4)),
                          rng.standard_normal((2, 3, 2, 4)))


def test_matmul_backward_finite_differences(impl):
    """Central differences of L = Σ grad ⊙ (a @ b) (float64) agree with the returned gradients."""
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((4, 3))
    grad = rng.standard_normal((3, 2, 3))
    grad_a, grad_b = impl.matmul_backward(a, b, grad)
    eps = 1e-6
    for x, g in ((a, grad_a), (b, grad_b)):
        numeric = np.zeros(x.shape)
        for j in np.ndindex(*x.shape):
            old = x[j]
            x[j] = old + eps
            up = np.sum(grad * (a @ b))
            x[j] = old - eps
            down = np.sum(grad * (a @ b))
            x[j] = old
            numeric[j] = (up - down) / (2 * eps)
        np.testing.assert_allclose(np.asarray(g), numeric, rtol=1e-6, atol=1e-8)


def test_matmul_backward_leaves_inputs_unchanged(impl):
    rng = np.random.default_rng(6)
    a, b, grad = rng.standard_normal((4, 2, 3)), rng.standard_normal((3, 5)), rng.standard_normal((4, 2, 5))
    copies = a.copy(), b.copy(), grad.copy()
    impl.matmul_backward(a, b, grad)
    for before, after, name in zip(copies, (a, b, grad), ("a", "b", "grad")):
        np.testing.assert_array_equal(after, before, err_msg=f"matmul_backward must not modify `{name}`")
