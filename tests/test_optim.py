"""Tests of minprune.optim against the algorithms as PyTorch documents them, re-derived here element by
element in plain Python floats (independent of the library's vectorized code), and the schedulers against
their closed-form formulas."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minprune as mp
from minprune import nn, optim
from minprune.nn import Parameter


# ---------------------------------------------------------------------- reference algorithms (scalar Python)
def grad_fn(theta: float, t: int) -> float:
    """A deterministic, parameter-dependent gradient (of a non-quadratic loss) that changes with the step."""
    return 2.0 * (theta - 0.5) + 0.3 * math.sin(3.0 * theta) + 0.1 * t


def reference_sgd(theta, steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """torch.optim.SGD's documented algorithm, one scalar at a time:
        g ← ∇ + λθ;  if μ ≠ 0: b ← g (t = 1) else b ← μb + (1 − τ)g;  g ← g + μb (nesterov) else b;  θ ← θ − γg."""
    out, buffers = [], []
    for th in theta:
        b = None
        for t in range(1, steps + 1):
            g = grad_fn(th, t)
            if weight_decay != 0:
                g = g + weight_decay * th
            if momentum != 0:
                b = g if t == 1 else momentum * b + (1 - dampening) * g
                g = g + momentum * b if nesterov else b
            th = th - lr * g
        out.append(th)
        buffers.append(b)
    return np.array(out), np.array(buffers, dtype=float)


def reference_adam(theta, steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """torch.optim.Adam / AdamW's documented algorithm (amsgrad off), one scalar at a time:
        AdamW: θ ← θ − γλθ;  Adam: g ← ∇ + λθ;  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
        m̂ = m/(1 − β₁ᵗ);  v̂ = v/(1 − β₂ᵗ);  θ ← θ − γ·m̂/(√v̂ + ε)."""
    b1, b2 = betas
    out, ms, vs = [], [], []
    for th in theta:
        m = v = 0.0
        for t in range(1, steps + 1):
            g = grad_fn(th, t)
            if weight_decay != 0:
                if decoupled:
                    th = th - lr * weight_decay * th
                else:
                    g = g + weight_decay * th
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat = m / (1 - b1 ** t)
            v_hat = v / (1 - b2 ** t)
            th = th - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(th)
        ms.append(m)
        vs.append(v)
    return np.array(out), np.array(ms), np.array(vs)


def run(optimizer_cls, theta0, steps, **kwargs):
    """Run the library optimizer on a float64 Parameter whose .grad is grad_fn of its current value."""
    p = Parameter(np.array(theta0, dtype=np.float64))
    data = p.data
    opt = optimizer_cls([p], **kwargs)
    for t in range(1, steps + 1):
        p.grad = np.array([grad_fn(v, t) for v in p.data])
        opt.step()
    assert p.data is data, "the optimizer must update p.data in place"
    return p, opt


THETA0 = [0.3, -1.2, 2.5, 0.0]


# ---------------------------------------------------------------------- SGD
SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.03, momentum=0.7, weight_decay=0.05, nesterov=True),
    dict(lr=0.03, momentum=0.5, dampening=0.3, weight_decay=0.2),
]


@pytest.mark.parametrize("config", SGD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_matches_reference(config):
    p, opt = run(optim.SGD, THETA0, 6, **config)
    expected, buffers = reference_sgd(THETA0, 6, **config)
    np.testing.assert_allclose(p.data, expected, rtol=1e-13, atol=1e-14)
    state = opt.state[p]
    if config.get("momentum"):
        np.testing.assert_allclose(state["momentum_buffer"], buffers, rtol=1e-13, atol=1e-14)
    else:
        assert "momentum_buffer" not in state


def test_sgd_plain_step_by_hand():
    p = Parameter(np.array([1.0, 2.0]))
    p.grad = np.array([0.5, -1.0])
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, 2.1])


def test_sgd_momentum_first_step_copies_the_gradient():
    p = Parameter(np.array([1.0]))
    p.grad = np.array([2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    opt.step()
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [2.0])  # no dampening at the first step
    assert opt.state[p]["momentum_buffer"] is not p.grad
    opt.step()
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [0.9 * 2.0 + 0.5 * 2.0])
    np.testing.assert_allclose(p.data, [1.0 - 0.1 * 2.0 - 0.1 * 2.8])


@settings(max_examples=25, deadline=None)
@given(lr=st.floats(1e-3, 0.5), momentum=st.sampled_from([0.0, 0.5, 0.9, 0.99]), dampening=st.floats(0, 0.9),
       weight_decay=st.sampled_from([0.0, 1e-4, 0.1]), nesterov=st.booleans(), steps=st.integers(1, 5))
def test_sgd_property(lr, momentum, dampening, weight_decay, nesterov, steps):
    if nesterov and momentum == 0:
        momentum = 0.5
    if nesterov:
        dampening = 0.0
    config = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
    p, _ = run(optim.SGD, THETA0, steps, **config)
    np.testing.assert_allclose(p.data, reference_sgd(THETA0, steps, **config)[0], rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------- Adam and AdamW
ADAM_CONFIGS = [
    dict(lr=0.01),
    dict(lr=0.1, betas=(0.8, 0.99)),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, betas=(0.0, 0.5), eps=1e-3),
]


@pytest.mark.parametrize("config", ADAM_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_adam_matches_reference(config):
    steps = 7
    p, opt = run(optim.Adam, THETA0, steps, **config)
    expected, m, v = reference_adam(THETA0, steps, **config)
    np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-14)
    state = opt.state[p]
    assert state["step"] == steps
    np.testing.assert_allclose(state["exp_avg"], m, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(state["exp_avg_sq"], v, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("config", [dict(lr=0.01), dict(lr=0.05, weight_decay=0.3), dict(lr=0.1, betas=(0.5, 0.9))],
                         ids=str)
def test_adamw_matches_reference(config):
    steps = 7
    p, opt = run(optim.AdamW, THETA0, steps, **config)
    expected, m, v = reference_adam(THETA0, steps, decoupled=True, **{"weight_decay": 1e-2, **config})
    np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(opt.state[p]["exp_avg"], m, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(opt.state[p]["exp_avg_sq"], v, rtol=1e-12, atol=1e-15)
    assert opt.state[p]["step"] == steps


def test_adam_and_adamw_differ_only_through_weight_decay():
    plain_adam, _ = run(optim.Adam, THETA0, 4, lr=0.05)
    plain_adamw, _ = run(optim.AdamW, THETA0, 4, lr=0.05, weight_decay=0.0)
    np.testing.assert_array_equal(plain_adam.data, plain_adamw.data)
    l2, _ = run(optim.Adam, THETA0, 4, lr=0.05, weight_decay=0.5)
    decoupled, _ = run(optim.AdamW, THETA0, 4, lr=0.05, weight_decay=0.5)
    assert not np.allclose(l2.data, decoupled.data)
    assert optim.AdamW([Parameter(np.zeros(1))]).param_groups[0]["weight_decay"] == 1e-2


def test_adam_first_step_moves_by_lr():
    """At t = 1, m̂ = g and v̂ = g², so each weight moves by lr·g/(|g| + ε) ≈ lr·sign(g), whatever |g| is."""
    p = Parameter(np.array([0.0, 0.0, 0.0]))
    p.grad = np.array([1e-3, -5.0, 100.0])
    optim.Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [-0.1, 0.1, -0.1], rtol=1e-4)


# ---------------------------------------------------------------------- shared optimizer behaviour
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW])
def test_parameters_without_grad_are_skipped(cls):
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    a.grad = np.array([1.0, -1.0])
    opt = cls([a, b], lr=0.1)
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert not np.array_equal(a.data, np.ones(2))
    assert b not in opt.state or opt.state[b] == {}


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_zero_grad(cls):
    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    opt = cls(model.parameters(), lr=0.1)
    model(np.ones((4, 3), np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_param_groups_have_their_own_hyper_parameters():
    a, b = Parameter(np.array([1.0])), Parameter(np.array([1.0]))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.0
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5])
    assert "momentum_buffer" in opt.state[b] and "momentum_buffer" not in opt.state[a]


def test_float32_parameters_stay_float32():
    model = nn.Linear(3, 2, rng=np.random.default_rng(0))
    for cls in (optim.SGD, optim.Adam, optim.AdamW):
        opt = cls(model.parameters(), lr=0.01, weight_decay=0.1)
        model(np.ones((4, 3), np.float32)).sum().backward()
        opt.step()
        opt.zero_grad()
        assert all(p.dtype == np.float32 for p in model.parameters())


def test_training_reduces_a_loss():
    """Smoke test of the whole loop: SGD with momentum fits a linear regression."""
    g = np.random.default_rng(0)
    x = g.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    model = nn.Linear(3, 1, rng=g)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = mp.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(model.weight.data, [[1.0, -2.0, 0.5]], atol=1e-2)


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=-0.1),
    lambda p: optim.SGD(p, lr=0.1, momentum=-0.5),
    lambda p: optim.SGD(p, lr=0.1, weight_decay=-1e-4),
    lambda p: optim.SGD(p, lr=0.1, nesterov=True),
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
    lambda p: optim.SGD(p, lr=float("nan")),
    lambda p: optim.Adam(p, lr=-1e-3),
    lambda p: optim.Adam(p, betas=(1.0, 0.999)),
    lambda p: optim.Adam(p, betas=(0.9, -0.1)),
    lambda p: optim.Adam(p, eps=-1e-8),
    lambda p: optim.Adam(p, weight_decay=-0.1),
    lambda p: optim.AdamW(p, betas=(0.9, 1.5)),
    lambda p: optim.AdamW(p, lr=-1.0),
])
def test_invalid_hyper_parameters(make):
    with pytest.raises(ValueError):
        make([Parameter(np.zeros(2))])


def test_invalid_params_argument():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(Parameter(np.zeros((3, 2))), lr=0.1)  # a bare tensor, not a list of them


# ---------------------------------------------------------------------- learning-rate schedulers
def _optimizer(lrs=(0.1,)):
    return optim.SGD([{"params": [Parameter(np.zeros(1))], "lr": lr} for lr in lrs], lr=lrs[0])


def test_step_lr():
    opt = _optimizer((0.1, 0.02))
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    assert sched.get_last_lr() == [0.1, 0.02]
    for epoch in range(1, 11):
        sched.step()
        expected = [base * 0.5 ** (epoch // 3) for base in (0.1, 0.02)]
        np.testing.assert_allclose(sched.get_last_lr(), expected, rtol=1e-15)
        np.testing.assert_allclose([g["lr"] for g in opt.param_groups], expected, rtol=1e-15)
    # the values PyTorch prints for StepLR(step_size=3, gamma=0.5), epochs 0..6, base 0.1
    opt = _optimizer()
    sched = optim.StepLR(opt, 3, 0.5)
    seen = [opt.param_groups[0]["lr"]]
    for _ in range(6):
        sched.step()
        seen.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(seen, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])


def test_cosine_annealing_lr():
    opt = _optimizer((1.0, 0.5))
    sched = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    for epoch in range(1, 9):
        sched.step()
        expected = [0.1 + (base - 0.1) * (1 + math.cos(math.pi * epoch / 4)) / 2 for base in (1.0, 0.5)]
        np.testing.assert_allclose(sched.get_last_lr(), expected, rtol=1e-13)
    opt = _optimizer((1.0,))
    sched = optim.CosineAnnealingLR(opt, T_max=4)
    seen = [opt.param_groups[0]["lr"]]
    for _ in range(4):
        sched.step()
        seen.append(opt.param_groups[0]["lr"])
    # half-cosine from 1 to 0 by hand: (1 + cos(kπ/4))/2 = 1, 0.853553, 0.5, 0.146447, 0
    np.testing.assert_allclose(seen, [1.0, 0.8535533905932737, 0.5, 0.14644660940672624, 0.0], atol=1e-15)


def test_schedulers_change_the_step_size():
    p = Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.StepLR(opt, step_size=1, gamma=0.1)
    for expected_move in (1.0, 0.1, 0.01):
        before = p.data.copy()
        p.grad = np.array([1.0])
        opt.step()
        np.testing.assert_allclose(before - p.data, [expected_move], rtol=1e-12)
        sched.step()


def test_scheduler_errors():
    with pytest.raises(ValueError, match="step_size"):
        optim.StepLR(_optimizer(), step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        optim.CosineAnnealingLR(_optimizer(), T_max=0)
