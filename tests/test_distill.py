"""Tests of minprune.related.distill: the Hinton et al. (2015) loss against a direct NumPy computation (float64),
its gradient against finite differences and against the closed form α·T·(q − p)/N + (1 − α)(softmax(z) − y)/N,
its limits, and ``distill`` training a student towards its teacher through ``train.fit``."""
import numpy as np
import pytest

import minprune as mp
from minprune import data, models, nn, optim, train
from minprune.related import distill as D

from helpers import gradcheck, t64


def rng(seed=0):
    return np.random.default_rng(seed)


def log_softmax(z):
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def direct_loss(student, teacher, targets, T, alpha):
    """L = α T² · mean_n Σ_c p_t log(p_t / q_s) + (1 − α) · mean_n −log softmax(z_s)[y], written out in float64."""
    log_p = log_softmax(teacher / T)
    kl = np.sum(np.exp(log_p) * (log_p - log_softmax(student / T)), axis=1).mean()
    ce = -log_softmax(student)[np.arange(len(targets)), targets].mean()
    return alpha * T ** 2 * kl + (1 - alpha) * ce


def batch(seed=0, n=6, c=5, scale=3.0):
    g = rng(seed)
    return g.normal(size=(n, c)) * scale, g.normal(size=(n, c)) * scale, g.integers(0, c, n)


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.9), (2.5, 0.0), (8.0, 1.0), (0.5, 0.3)])
def test_loss_equals_direct_computation(T, alpha):
    s, t, y = batch()
    loss = D.distillation_loss(t64(s), t, y, T=T, alpha=alpha)
    assert loss.data.shape == ()
    assert float(loss.data) == pytest.approx(direct_loss(s, t, y, T, alpha), rel=1e-12, abs=1e-12)


def test_defaults_are_T4_alpha09():
    s, t, y = batch(1)
    assert float(D.distillation_loss(t64(s), t, y).data) == pytest.approx(direct_loss(s, t, y, 4.0, 0.9), rel=1e-12)


def test_reduction_sum_is_n_times_mean():
    s, t, y = batch(2)
    mean = float(D.distillation_loss(t64(s), t, y, reduction="mean").data)
    total = float(D.distillation_loss(t64(s), t, y, reduction="sum").data)
    assert total == pytest.approx(len(y) * mean, rel=1e-12)


def test_teacher_may_be_a_tensor_and_gets_no_gradient():
    s, t, y = batch(3)
    teacher = t64(t)
    student = t64(s)
    D.distillation_loss(student, teacher, y).backward()
    assert teacher.grad is None and student.grad is not None


def test_kl_vanishes_when_student_equals_teacher():
    s, _, y = batch(4)
    ce = -log_softmax(s)[np.arange(len(y)), y].mean()
    assert float(D.distillation_loss(t64(s), s, y, T=3.0, alpha=0.7).data) == pytest.approx(0.3 * ce, rel=1e-10)


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (4.0, 0.9), (3.0, 1.0), (2.0, 0.0)])
def test_gradient_against_finite_differences(T, alpha):
    s, t, y = batch(5)
    gradcheck(lambda z: D.distillation_loss(z, t, y, T=T, alpha=alpha), t64(s))


def test_gradient_closed_form():
    # ∂L/∂z_s = α T (softmax(z_s/T) − softmax(z_t/T)) / N + (1 − α)(softmax(z_s) − onehot(y)) / N:
    # the T² in the loss cancels one 1/T of the chain rule, so the soft term's gradient scales like T, not 1/T
    s, t, y = batch(6)
    T, alpha = 4.0, 0.9
    student = t64(s)
    D.distillation_loss(student, t, y, T=T, alpha=alpha).backward()
    n = len(y)
    q, p = np.exp(log_softmax(s / T)), np.exp(log_softmax(t / T))
    onehot = np.eye(s.shape[1])[y]
    expected = alpha * T * (q - p) / n + (1 - alpha) * (np.exp(log_softmax(s)) - onehot) / n
    np.testing.assert_allclose(student.grad, expected, rtol=1e-10, atol=1e-14)


def test_numerically_stable_for_huge_logits():
    s, t, y = batch(7, scale=1e4)
    loss = D.distillation_loss(t64(s), t, y, T=2.0, alpha=0.5)
    assert np.isfinite(loss.data)
    assert float(loss.data) == pytest.approx(direct_loss(s, t, y, 2.0, 0.5), rel=1e-9)


def test_float32_student_gives_float32_loss():
    s, t, y = batch(8)
    loss = D.distillation_loss(mp.tensor(s.astype(np.float32), requires_grad=True), t, y)
    assert loss.dtype == np.float32
    assert float(loss.data) == pytest.approx(direct_loss(s.astype(np.float32).astype(np.float64), t, y, 4, 0.9),
                                             rel=1e-5)


@pytest.mark.parametrize("T,alpha", [(0.0, 0.5), (-1.0, 0.5), (4.0, -0.1), (4.0, 1.5)])
def test_rejects_bad_T_or_alpha(T, alpha):
    s, t, y = batch()
    with pytest.raises(ValueError, match="T"):
        D.distillation_loss(t64(s), t, y, T=T, alpha=alpha)


# ---------------------------------------------------------------------- distill(): training with a teacher
def blob_data(n=256, seed=0):
    return data.blobs(n=n, centers=4, std=1.5, dim=8, rng=rng(seed))


def mean_kl(student, teacher, x, T):
    with mp.no_grad():
        log_p = log_softmax(teacher(x).data.astype(np.float64) / T)
        log_q = log_softmax(student(x).data.astype(np.float64) / T)
        return float(np.sum(np.exp(log_p) * (log_p - log_q), axis=1).mean())


def test_distill_moves_the_student_towards_the_teacher():
    ds = blob_data()
    teacher = models.mlp([8, 32, 4], rng=rng(1), flatten=False)
    train.fit(teacher, data.DataLoader(ds, 32, shuffle=True, rng=rng(2)),
              optim.SGD(teacher.parameters(), lr=0.1, momentum=0.9), epochs=5, progress=False)
    teacher_state = teacher.state_dict()
    student = models.mlp([8, 6, 4], rng=rng(3), flatten=False)
    before = mean_kl(student, teacher, ds.x, 4.0)
    D.distill(student, teacher, data.DataLoader(ds, 32, shuffle=True, rng=rng(4)),
              optim.SGD(student.parameters(), lr=0.1, momentum=0.9), epochs=5, T=4.0, alpha=1.0, progress=False)
    after = mean_kl(student, teacher, ds.x, 4.0)
    assert after < 0.3 * before, (before, after)
    for name, value in teacher.state_dict().items():           # the teacher is never trained
        np.testing.assert_array_equal(value, teacher_state[name])
    assert not student._forward_pre_hooks                       # the input recorder is removed afterwards


def test_distill_uses_the_teacher_on_the_same_batch():
    # one step with alpha = 1 and SGD lr = 1 moves the last bias by −mean over the batch of T·(q − p) for the very
    # batch the student saw: the teacher must be asked about that batch, not another one
    ds = blob_data(n=16)
    teacher = models.mlp([8, 4], rng=rng(5), flatten=False)
    student = models.mlp([8, 4], rng=rng(6), flatten=False)
    x, y = ds.x[:16], ds.y[:16]
    T = 2.0
    q = np.exp(log_softmax(student(x).data.astype(np.float64) / T))
    p = np.exp(log_softmax(teacher(x).data.astype(np.float64) / T))
    bias = student[0].bias.data.copy()
    D.distill(student, teacher, data.DataLoader((x, y), 16), optim.SGD(student.parameters(), lr=1.0), epochs=1,
              T=T, alpha=1.0, progress=False)
    np.testing.assert_allclose(student[0].bias.data, bias - T * (q - p).mean(axis=0), rtol=1e-4, atol=1e-6)


def test_distill_with_alpha_zero_is_plain_training():
    ds = blob_data()
    teacher = models.mlp([8, 16, 4], rng=rng(7), flatten=False)
    a = models.mlp([8, 6, 4], rng=rng(8), flatten=False)
    b = models.mlp([8, 6, 4], rng=rng(8), flatten=False)
    history_a = D.distill(a, teacher, data.DataLoader(ds, 32, shuffle=True, rng=rng(9)),
                          optim.SGD(a.parameters(), lr=0.1), epochs=2, alpha=0.0, progress=False)
    history_b = train.fit(b, data.DataLoader(ds, 32, shuffle=True, rng=rng(9)), optim.SGD(b.parameters(), lr=0.1),
                          epochs=2, progress=False)
    np.testing.assert_allclose(history_a["step_loss"], history_b["step_loss"], rtol=1e-5)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-5, atol=1e-6, err_msg=name)


def test_distill_a_pruned_student_keeps_its_mask():
    from minprune import prune

    ds = blob_data()
    teacher = models.mlp([8, 16, 4], rng=rng(10), flatten=False)
    student = models.mlp([8, 16, 4], rng=rng(10), flatten=False)
    prune.l1_unstructured(student[0], "weight", 0.5)
    mask = student[0].weight_mask.copy()
    D.distill(student, teacher, data.DataLoader(ds, 32, shuffle=True, rng=rng(11)),
              optim.SGD(student.parameters(), lr=0.1, momentum=0.9), epochs=1, progress=False)
    with mp.no_grad():
        student(ds.x[:2])
    np.testing.assert_array_equal(student[0].weight.data[mask == 0], 0.0)
    assert isinstance(student[0], nn.Linear)
