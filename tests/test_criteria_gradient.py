"""Tests of the gradient criteria (minprune/prune/criteria/gradient.py): gradient, Taylor (per weight and per
filter), SNIP, GraSP and SynFlow.

Gradients are computed here independently: a tiny float64 MLP written again in plain NumPy (forward pass and
cross-entropy) and differentiated by central finite differences, never by the autograd engine. GraSP is checked
on a two-parameter least-squares problem whose g and H are known in closed form, SynFlow's conservation law
against R = 1ᵀ|W_L|⋯|W_1|1 computed with NumPy matrix products.
"""
import numpy as np
import pytest

from minprune import models, nn, prune
from minprune.prune import criteria as C


def tiny_mlp(seed=0):
    return models.mlp([4, 3, 2], rng=np.random.default_rng(seed), flatten=False).double()


def batches_of(seed=1, sizes=(6, 5)):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, 4)), rng.integers(0, 2, n)) for n in sizes]


def numpy_loss(weights, biases, x, y):
    """Mean cross-entropy of Linear → ReLU → Linear, in plain NumPy."""
    hidden = np.maximum(x @ weights[0].T + biases[0], 0)
    logits = hidden @ weights[1].T + biases[1]
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean()


def fd_gradients(model, x, y, eps=1e-6):
    """∂L/∂W of each Linear weight by central differences on ``numpy_loss`` (error O(eps²) ≈ 1e-12)."""
    layers = C.weight_layers(model)
    weights = [m.weight.data.copy() for m in layers]
    biases = [m.bias.data.copy() for m in layers]
    grads = []
    for w in weights:
        g = np.zeros_like(w)
        for index in np.ndindex(w.shape):
            original = w[index]
            w[index] = original + eps
            plus = numpy_loss(weights, biases, x, y)
            w[index] = original - eps
            minus = numpy_loss(weights, biases, x, y)
            w[index] = original
            g[index] = (plus - minus) / (2 * eps)
        grads.append(g)
    return dict(zip(layers, grads))


def test_gradient_is_the_mean_absolute_gradient_over_batches():
    model, data = tiny_mlp(), batches_of()
    per_batch = [fd_gradients(model, x, y) for x, y in data]
    scores = C.gradient(model, data)
    for m in C.weight_layers(model):
        np.testing.assert_allclose(scores[(m, "weight")], (abs(per_batch[0][m]) + abs(per_batch[1][m])) / 2,
                                   atol=1e-8)


def test_taylor_is_abs_weight_times_mean_gradient():
    model, data = tiny_mlp(), batches_of()
    per_batch = [fd_gradients(model, x, y) for x, y in data]
    scores = C.taylor(model, data)
    for m in C.weight_layers(model):
        mean_grad = (per_batch[0][m] + per_batch[1][m]) / 2
        np.testing.assert_allclose(scores[(m, "weight")], np.abs(m.weight.data * mean_grad), atol=1e-8)


def test_taylor_scores_by_hand():
    np.testing.assert_array_equal(C.taylor_scores(np.array([2.0, -3.0, 0.5]), np.array([0.5, 1.0, -4.0])),
                                  [1.0, 3.0, 2.0])


def test_taylor_filter_squares_each_filters_sum_per_batch_then_averages():
    # Molchanov 2019: I_c = mean_b (Σ_{w in row c} g_w w)², the same for every weight of the row
    model, data = tiny_mlp(), batches_of()
    per_batch = [fd_gradients(model, x, y) for x, y in data]
    scores = C.taylor_filter(model, data)
    for m in C.weight_layers(model):
        w = m.weight.data
        expected = [np.mean([float((g[m][c] * w[c]).sum()) ** 2 for g in per_batch]) for c in range(len(w))]
        np.testing.assert_allclose(scores[(m, "weight")], np.repeat(np.array(expected)[:, None], w.shape[1], 1),
                                   atol=1e-10)


def test_taylor_filter_broadcasts_over_conv_filters():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, rng=rng), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2, rng=rng))
    data = [(rng.standard_normal((4, 1, 4, 4)).astype(np.float32), rng.integers(0, 2, 4))]
    scores = C.taylor_filter(model, data)[(model[0], "weight")]
    assert scores.shape == (3, 1, 3, 3)
    np.testing.assert_array_equal(scores, np.broadcast_to(scores[:, :1, :1, :1], scores.shape))


def test_snip_is_normalised_abs_g_times_w_from_the_first_batch_only():
    model, data = tiny_mlp(), batches_of()
    grads = fd_gradients(model, *data[0])
    raw = {m: np.abs(grads[m] * m.weight.data) for m in grads}
    total = sum(r.sum() for r in raw.values())
    scores = C.snip(model, data)
    for m in grads:
        np.testing.assert_allclose(scores[(m, "weight")], raw[m] / total, atol=1e-9)
    assert sum(s.sum() for s in scores.values()) == pytest.approx(1.0)


def half_squares(pred, y, reduction="mean"):
    per_sample = (pred.reshape(-1) - y) ** 2 * 0.5
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def two_parameter_problem(w):
    # L(θ) = (1/2N) ‖Xθ − y‖² with X = [[1, 0], [1, 1]], y = 0: H = XᵀX/2 = [[1, ½], [½, ½]], g = Xᵀ(Xθ)/2
    model = nn.Linear(2, 1, bias=False).double()
    model.weight.data = np.array([w], dtype=np.float64)
    return model, (np.array([[1.0, 0.0], [1.0, 1.0]]), np.zeros(2))


def test_grasp_ranks_by_theta_times_hg_on_a_hand_case():
    # θ = (1, −2): Xθ = (1, −1), g = (0, −½), Hg = (−¼, −¼), θ ⊙ Hg = (−¼, ½). The paper's S = −θ ⊙ Hg =
    # (¼, −½) removes weight 0 first; minprune's importance ranks by θ ⊙ Hg, shifted by its minimum (−¼) so
    # that the |score|-ranking pruning functions see (0, ¾).
    model, data = two_parameter_problem([1.0, -2.0])
    scores = C.grasp(model, data, half_squares)[(model, "weight")]
    np.testing.assert_allclose(scores, [[0.0, 0.75]], atol=1e-9)
    prune.l1_unstructured(model, "weight", amount=1, importance_scores=scores)
    np.testing.assert_array_equal(model.weight_mask, [[0, 1]])


def test_grasp_is_unshifted_when_theta_hg_is_non_negative():
    # θ = (1, 2): Xθ = (1, 3), g = (2, 3/2), Hg = (11/4, 7/4), θ ⊙ Hg = (11/4, 7/2)
    model, data = two_parameter_problem([1.0, 2.0])
    np.testing.assert_allclose(C.grasp(model, data, half_squares)[(model, "weight")], [[2.75, 3.5]], atol=1e-9)


def test_grasp_shift_is_global_so_global_pruning_keeps_the_order():
    model, data = tiny_mlp(), batches_of()
    scores = C.grasp(model, data)
    pooled = np.concatenate([s.ravel() for s in scores.values()])
    assert pooled.min() >= 0 and np.isclose(pooled.min(), 0)  # the lowest θ ⊙ Hg of the network maps to 0
    assert all(s.min() >= 0 for s in scores.values())


def chain(sizes, relu=False, seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=False, rng=rng))
        if relu and i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@pytest.mark.parametrize("relu", [False, True])
def test_synflow_conserves_the_flow_layer_by_layer(relu):
    model = chain([5, 4, 3, 2], relu=relu)
    weights = [np.abs(m.weight.data.astype(np.float64)) for m in C.weight_layers(model)]
    r = np.ones(5)
    for w in weights:
        r = w @ r
    total = r.sum()  # R = 1ᵀ |W3| |W2| |W1| 1
    scores = C.synflow(model, (5,))
    for m in C.weight_layers(model):
        assert scores[(m, "weight")].sum() == pytest.approx(total, rel=1e-12)
        assert np.all(scores[(m, "weight")] >= 0)
    # and the score of one weight is |w| · ∂R/∂|w|: for the first layer, |W1|_ij · (1ᵀ|W3||W2|)_i · 1
    upstream = np.ones(2) @ weights[2] @ weights[1]
    np.testing.assert_allclose(scores[(C.weight_layers(model)[0], "weight")], weights[0] * upstream[:, None],
                               rtol=1e-12)


def test_synflow_masks_zero_the_masked_weights_and_leave_the_model_alone():
    model = chain([5, 4, 3])
    first, second = C.weight_layers(model)
    state = model.state_dict()
    mask = np.ones((4, 5))
    mask[0] = 0  # neuron 0 of layer 1 is cut: its row scores 0 and so does column 0 of the next layer
    scores = C.synflow(model, (5,), masks={first: mask})
    np.testing.assert_array_equal(scores[(first, "weight")][0], 0)
    np.testing.assert_array_equal(scores[(second, "weight")][:, 0], 0)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key])


def test_synflow_prune_reaches_the_sparsity_without_emptying_a_layer():
    model = models.mlp([30, 20, 12, 4], rng=np.random.default_rng(0))
    total = 30 * 20 + 20 * 12 + 12 * 4
    C.synflow_prune(model, 0.9, (30,), iterations=20)
    layers = C.weight_layers(model)
    zeros = sum(int((m.weight_mask == 0).sum()) for m in layers)
    assert zeros == round(0.9 * total)
    for m in layers:
        assert m.weight_mask.sum() > 0, f"{m} lost every weight"
        np.testing.assert_array_equal(m.weight.data[m.weight_mask == 0], 0)


def test_synflow_prune_rejects_a_bad_sparsity():
    model = models.mlp([3, 2])
    for sparsity in (1.0, -0.1):
        with pytest.raises(ValueError, match="sparsity"):
            C.synflow_prune(model, sparsity, (3,))
    assert not prune.is_pruned(model[1])
