"""Grader for exercise 02 (lesson 02_dense_baseline): ``sgd_step`` (02.1) and ``accuracy`` (02.2).

The SGD reference below is PyTorch's documented update (torch.optim.SGD), written out one scalar at a time::

    d = g + λθ                                   (weight decay)
    b = d              at the first step          (no dampening on the first step)
    b = μb + (1 − τ)d  afterwards
    d = d + μb         if nesterov, else d = b
    θ = θ − lr·d
"""

import numpy as np
import pytest

pytestmark = pytest.mark.ex02


# ---------------------------------------------------------------------------------------------------------------
# 02.1 sgd_step
# ---------------------------------------------------------------------------------------------------------------

def reference_sgd(theta, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """θ after each step and the momentum buffer after each step, element by element with Python floats."""
    theta = [float(v) for v in theta]
    buffers = [None] * len(theta)
    thetas, bufs = [], []
    for g in grads:
        for i in range(len(theta)):
            d = float(g[i]) + weight_decay * theta[i]
            if momentum != 0:
                if buffers[i] is None:
                    buffers[i] = d
                else:
                    buffers[i] = momentum * buffers[i] + (1 - dampening) * d
                d = d + momentum * buffers[i] if nesterov else buffers[i]
            theta[i] = theta[i] - lr * d
        thetas.append(list(theta))
        bufs.append(list(buffers))
    return thetas, bufs


def run_steps(impl, theta, grads, **hyper):
    """Apply impl.sgd_step to one float64 array with one state dict; θ and the buffer after every step."""
    param = np.array(theta, dtype=np.float64)
    state = {}
    thetas, bufs = [], []
    for g in grads:
        result = impl.sgd_step(param, np.array(g, dtype=np.float64), state, **hyper)
        assert result is None, "sgd_step updates `param` in place and returns None"
        thetas.append(param.copy())
        buf = state.get("momentum_buffer")
        bufs.append(None if buf is None else np.array(buf, dtype=np.float64))
    return thetas, bufs


def check_against_reference(impl, theta, grads, **hyper):
    got_thetas, got_bufs = run_steps(impl, theta, grads, **hyper)
    want_thetas, want_bufs = reference_sgd(theta, grads, **hyper)
    for step, (got, want) in enumerate(zip(got_thetas, want_thetas), 1):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12,
                                   err_msg=f"parameter after step {step} with {hyper}")
    if hyper.get("momentum", 0):
        for step, (got, want) in enumerate(zip(got_bufs, want_bufs), 1):
            assert got is not None, 'keep the momentum buffer in state["momentum_buffer"]'
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12,
                                       err_msg=f'state["momentum_buffer"] after step {step} with {hyper}')


THETA = [1.0, -2.0, 0.5]
GRADS = [[0.5, 1.0, -0.25], [0.1, -0.3, 0.2], [-0.4, 0.2, 0.6], [0.3, 0.3, -0.1]]


def test_sgd_step_plain_hand_values(impl):
    param = np.array([1.0, -2.0])
    impl.sgd_step(param, np.array([0.5, 1.0]), {}, lr=0.1)
    np.testing.assert_allclose(param, [0.95, -2.1], rtol=1e-12)


def test_sgd_step_updates_in_place_and_returns_none(impl):
    param = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    alias = param  # the caller (an optimizer, a model) holds this very array
    result = impl.sgd_step(param, np.array([0.5, 1.0, -0.25], dtype=np.float32), {}, lr=0.1, momentum=0.9)
    assert result is None, "sgd_step returns None: the update happens in place"
    assert alias is param and param.dtype == np.float32
    np.testing.assert_allclose(alias, [0.95, -2.1, 0.525], rtol=1e-6)


def test_sgd_step_momentum_hand_values(impl):
    # θ = 1, g = 0.5 twice, lr = 0.1, μ = 0.9: b = 0.5 → θ = 0.95; b = 0.9·0.5 + 0.5 = 0.95 → θ = 0.855
    param, state = np.array([1.0]), {}
    impl.sgd_step(param, np.array([0.5]), state, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(param, [0.95], rtol=1e-12)
    np.testing.assert_allclose(state["momentum_buffer"], [0.5], rtol=1e-12)
    impl.sgd_step(param, np.array([0.5]), state, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(param, [0.855], rtol=1e-12)
    np.testing.assert_allclose(state["momentum_buffer"], [0.95], rtol=1e-12)


def test_sgd_step_momentum_over_several_steps(impl):
    check_against_reference(impl, THETA, GRADS, lr=0.1, momentum=0.9)


def test_sgd_step_weight_decay(impl):
    # d = g + λθ = 0.5 + 0.1·1 → θ = 1 − 0.1·0.6 = 0.94
    param = np.array([1.0])
    impl.sgd_step(param, np.array([0.5]), {}, lr=0.1, weight_decay=0.1)
    np.testing.assert_allclose(param, [0.94], rtol=1e-12)
    check_against_reference(impl, THETA, GRADS, lr=0.05, weight_decay=0.01)


def test_sgd_step_weight_decay_enters_the_momentum_buffer(impl):
    # weight decay is added to the gradient *before* the momentum buffer, as PyTorch documents
    check_against_reference(impl, THETA, GRADS, lr=0.1, momentum=0.9, weight_decay=0.05)


def test_sgd_step_dampening(impl):
    # the first step sets b = d with no dampening; later steps use (1 − τ)d
    param, state = np.array([1.0]), {}
    impl.sgd_step(param, np.array([0.5]), state, lr=0.1, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(param, [0.95], rtol=1e-12)
    np.testing.assert_allclose(state["momentum_buffer"], [0.5], rtol=1e-12)
    check_against_reference(impl, THETA, GRADS, lr=0.1, momentum=0.9, dampening=0.5)


def test_sgd_step_nesterov(impl):
    # θ = 1, g = 0.5, μ = 0.9: b = 0.5, d = g + μb = 0.95 → θ = 1 − 0.1·0.95 = 0.905
    param, state = np.array([1.0]), {}
    impl.sgd_step(param, np.array([0.5]), state, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(param, [0.905], rtol=1e-12)
    check_against_reference(impl, THETA, GRADS, lr=0.1, momentum=0.9, nesterov=True)
    check_against_reference(impl, THETA, GRADS, lr=0.1, momentum=0.8, weight_decay=0.05, nesterov=True)


def test_sgd_step_all_options_matrix(impl):
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(12)
    grads = rng.standard_normal((5, 12))
    check_against_reference(impl, theta, grads, lr=0.03, momentum=0.7, dampening=0.1, weight_decay=1e-3)
    # a 2-D parameter (a weight matrix) works the same way, element by element
    param, state = theta.reshape(3, 4).copy(), {}
    for g in grads:
        impl.sgd_step(param, g.reshape(3, 4), state, lr=0.03, momentum=0.7, nesterov=True)
    want, _ = reference_sgd(theta, grads, lr=0.03, momentum=0.7, nesterov=True)
    np.testing.assert_allclose(param.ravel(), want[-1], rtol=1e-12)


def test_sgd_step_keeps_momentum_in_state(impl):
    """The buffer lives in the state dict between calls; a fresh dict means a fresh start."""
    param = np.array([1.0])
    state = {}
    impl.sgd_step(param, np.array([1.0]), state, lr=0.1, momentum=0.5)
    assert "momentum_buffer" in state, 'keep the momentum buffer in state["momentum_buffer"]'
    impl.sgd_step(param, np.array([1.0]), state, lr=0.1, momentum=0.5)
    np.testing.assert_allclose(param, [1.0 - 0.1 - 0.15], rtol=1e-12)  # b = 1, then 0.5·1 + 1 = 1.5
    other = np.array([1.0])
    impl.sgd_step(other, np.array([1.0]), {}, lr=0.1, momentum=0.5)
    np.testing.assert_allclose(other, [0.9], rtol=1e-12)


def test_sgd_step_does_not_modify_grad(impl):
    """The gradient belongs to the caller: the same array passed again must still hold the same values.

    (A buffer that *is* the gradient array, b = d without a copy, is updated in place at the next step.)"""
    grad = np.array([0.5, -1.0])
    param, state = np.array([1.0, 2.0]), {}
    for _ in range(3):
        impl.sgd_step(param, grad, state, lr=0.1, momentum=0.9)
        np.testing.assert_array_equal(grad, [0.5, -1.0], err_msg="sgd_step modified its `grad` argument")
    want, _ = reference_sgd([1.0, 2.0], [[0.5, -1.0]] * 3, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(param, want[-1], rtol=1e-12)
    grad_wd = np.array([0.5, -1.0])
    impl.sgd_step(np.array([1.0, 2.0]), grad_wd, {}, lr=0.1, weight_decay=0.1)
    np.testing.assert_array_equal(grad_wd, [0.5, -1.0], err_msg="sgd_step modified its `grad` argument")


# ---------------------------------------------------------------------------------------------------------------
# 02.2 accuracy
# ---------------------------------------------------------------------------------------------------------------

def naive_accuracy(logits, targets):
    hits = 0
    for row, target in zip(logits, targets):
        hits += int(max(range(len(row)), key=lambda c: row[c]) == target)
    return hits / len(targets)


def test_accuracy_hand_values(impl):
    logits = np.array([[2.0, 1.0, 0.1],
                       [0.5, 2.5, 0.3],
                       [0.2, 0.1, 3.0],
                       [1.0, 4.0, 0.0]])
    targets = np.array([0, 1, 2, 0])  # the last row predicts 1, not 0
    result = impl.accuracy(logits, targets)
    assert float(result) == pytest.approx(0.75)


def test_accuracy_is_a_fraction_not_a_count(impl):
    logits = np.eye(5)[[0, 1, 2, 3, 4, 0, 1, 2]] * 3.0
    targets = np.array([0, 1, 2, 3, 4, 0, 0, 0])
    result = impl.accuracy(logits, targets)
    assert np.ndim(result) == 0, "accuracy returns one number"
    assert 0.0 <= float(result) <= 1.0, f"accuracy is a fraction in [0, 1], got {result}"
    assert float(result) == pytest.approx(6 / 8)


def test_accuracy_argmax_over_classes(impl):
    # square logits: taking the argmax down each column (axis 0) instead of along each row gives another answer
    logits = np.array([[0.0, 5.0, 1.0],
                       [4.0, 0.0, 1.0],
                       [1.0, 3.0, 2.0]])
    targets = np.array([1, 0, 1])  # the row-wise predictions are [1, 0, 1]: all correct
    assert float(impl.accuracy(logits, targets)) == pytest.approx(1.0)
    # more rows than classes, and more classes than rows
    rng = np.random.default_rng(0)
    for n, c in ((7, 3), (3, 7)):
        logits, targets = rng.standard_normal((n, c)), rng.integers(0, c, n)
        assert float(impl.accuracy(logits, targets)) == pytest.approx(naive_accuracy(logits, targets))


def test_accuracy_random_batches(impl):
    rng = np.random.default_rng(1)
    for n in (1, 2, 10, 257):
        logits = rng.standard_normal((n, 10)).astype(np.float32)
        targets = rng.integers(0, 10, n)
        assert float(impl.accuracy(logits, targets)) == pytest.approx(naive_accuracy(logits, targets))


def test_accuracy_extremes(impl):
    logits = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    assert float(impl.accuracy(logits, np.array([0, 1, 0]))) == 1.0
    assert float(impl.accuracy(logits, np.array([1, 0, 1]))) == 0.0
    assert float(impl.accuracy(logits[:1], np.array([0]))) == 1.0


def test_accuracy_empty_batch(impl):
    result = impl.accuracy(np.zeros((0, 10), dtype=np.float32), np.zeros((0,), dtype=np.int64))
    assert float(result) == 0.0, f"an empty batch has accuracy 0 (the docstring), got {result}"
