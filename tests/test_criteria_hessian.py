"""Tests of the second-order criteria (minprune/prune/criteria/hessian.py) against closed forms.

The reference problem is linear least squares: a bias-free ``nn.Linear(d, 1)`` in float64 with the per-sample
loss ℓ_i = ½(w·x_i − y_i)², averaged. Its Hessian is exactly H = XᵀX/N and its per-sample gradients are r_i x_i
(r_i = w·x_i − y_i), so every estimator has a closed form written here with plain NumPy. Layer-wise OBS minimises
a row's reconstruction error ‖(w − ŵ)X‖²/N = ½ δᵀHδ with H = 2XXᵀ/N (δ = ŵ − w); the best weights for a given
mask come from ``np.linalg.lstsq`` and the SparseGPT sweep from a naive loop with explicit inverses.
Statistical checks state their sample count and a tolerance of about 5 standard errors computed from the
exact quantities, with fixed seeds.
"""
from collections import OrderedDict

import numpy as np
import pytest

from minprune import functional as F
from minprune import models, nn, prune
from minprune.prune import criteria as C


def half_squares(pred, y, reduction="mean"):
    """ℓ_i = ½(pred_i − y_i)², summed or averaged (fisher_diagonal asks for reduction="sum")."""
    per_sample = (pred.reshape(-1) - y) ** 2 * 0.5
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def power_loss(power):
    """ℓ_i = (pred_i − y_i)^p / p: for p = 3 the gradient is quadratic in w, for p = 4 cubic."""
    def loss(pred, y, reduction="mean"):
        per_sample = (pred.reshape(-1) - y) ** power * (1 / power)
        return per_sample.sum() if reduction == "sum" else per_sample.mean()
    return loss


def correlated(n, d, rng, rank=4, noise=0.3):
    """Features near a low-dimensional subspace (rank-4 signal plus a little independent noise), as layer
    activations usually are: a well-defined but strongly non-diagonal Hessian."""
    return rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d)) + noise * rng.standard_normal((n, d))


def least_squares(n=400, d=5, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d))
    w_true = rng.standard_normal(d)
    y = x @ w_true + noise * rng.standard_normal(n)
    model = nn.Linear(d, 1, bias=False, rng=rng).double()
    return model, x, y, w_true


# ---------------------------------------------------------------------------------------------- HVP
def test_hvp_is_exact_for_a_quadratic_loss():
    model, x, y, _ = least_squares()
    before = model.weight.data.copy()
    v = np.random.default_rng(1).standard_normal((1, 5))
    hv = C.hvp(model, [(x, y)], {model: v}, half_squares)[model]
    exact = (x.T @ x / len(x)) @ v.ravel()
    np.testing.assert_allclose(hv.ravel(), exact, rtol=1e-7)  # central differences are exact on a quadratic
    np.testing.assert_array_equal(model.weight.data, before)  # restored bit-exactly
    assert model.weight.grad is None


def test_hvp_error_is_second_order_in_eps():
    # Central differences of the gradient g: (g(θ+εv̂) − g(θ−εv̂)) / 2ε = Hv̂ + (ε²/6) g‴[v̂, v̂, v̂] + O(ε⁴).
    # A cubic loss has a quadratic gradient (g‴ = 0): exact. A quartic loss L = (1/4N) Σ r_i⁴ has
    # H = (3/N) Σ r_i² x_i x_iᵀ and g‴[v̂,v̂,v̂] = (6/N) Σ (x_i·v̂)³ x_i with no higher terms, so the error is
    # exactly ‖v‖ ε² (1/N) Σ (x_i·v̂)³ x_i: halving ε divides it by 4.
    model, x, y, _ = least_squares(n=100, d=4)
    w = model.weight.data.ravel()
    v = np.random.default_rng(2).standard_normal(4)
    r = x @ w - y
    cubic = C.hvp(model, [(x, y)], {model: v[None, :]}, power_loss(3), eps=1e-2)[model].ravel()
    np.testing.assert_allclose(cubic, 2 / len(x) * x.T @ (r * (x @ v)), rtol=1e-9)
    exact = 3 / len(x) * x.T @ (r ** 2 * (x @ v))
    unit = v / np.linalg.norm(v)
    fourth = x.T @ ((x @ unit) ** 3) / len(x)
    errors = []
    for eps in (1e-2, 5e-3):
        hv = C.hvp(model, [(x, y)], {model: v[None, :]}, power_loss(4), eps=eps)[model].ravel()
        np.testing.assert_allclose(hv - exact, eps ** 2 * np.linalg.norm(v) * fourth, rtol=1e-4)
        errors.append(np.linalg.norm(hv - exact))
    assert 3.99 < errors[0] / errors[1] < 4.01


def test_hvp_of_zero_vector_is_zero():
    model, x, y, _ = least_squares()
    np.testing.assert_array_equal(C.hvp(model, [(x, y)], {model: np.zeros((1, 5))}, half_squares)[model], 0)


def test_hvp_restores_a_pruned_layers_effective_weight():
    # the forward pre-hook sets module.weight = orig · mask from the *perturbed* weights during the HVP
    model = models.mlp([6, 5, 3], rng=np.random.default_rng(0), flatten=False).double()
    prune.l1_unstructured(model[0], "weight", amount=0.4)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    model(x)
    before = model[0].weight.data.copy()
    C.hvp(model, [(x, y)], {model[0]: rng.standard_normal((5, 6)), model[2]: rng.standard_normal((3, 5))})
    np.testing.assert_array_equal(model[0].weight.data, before)


# ---------------------------------------------------------------------------------------------- Hutchinson
def test_hutchinson_is_exact_for_a_diagonal_matrix():
    # Rademacher v has v_q² = 1, so v ⊙ Dv = diag(D) for every draw: exact with a single sample
    d = np.array([3.0, -1.0, 0.5, 2.0])
    estimate = C.hutchinson(lambda v: d * v, 4, samples=1, rng=np.random.default_rng(0))
    np.testing.assert_allclose(estimate, d, rtol=1e-15)


def test_hutchinson_converges_within_its_standard_error():
    # per sample, the estimate of H_qq has variance Σ_{j≠q} H_qj² (Rademacher); 4000 samples, 5 standard errors
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    h = a @ a.T
    samples = 4000
    estimate = C.hutchinson(lambda v: h @ v, 6, samples, np.random.default_rng(1))
    standard_error = np.sqrt(((h ** 2).sum(axis=1) - np.diag(h) ** 2) / samples)
    assert np.all(np.abs(estimate - np.diag(h)) < 5 * standard_error), (estimate, np.diag(h), standard_error)


def test_hutchinson_diagonal_matches_the_exact_least_squares_hessian():
    # 400 samples of a 5-parameter problem, FD HVPs: within 5 standard errors of diag(XᵀX/N)
    model, x, y, _ = least_squares()
    h = x.T @ x / len(x)
    samples = 400
    estimate = C.hutchinson_diagonal(model, [(x, y)], half_squares, samples=samples,
                                     rng=np.random.default_rng(3))[(model, "weight")].ravel()
    standard_error = np.sqrt(((h ** 2).sum(axis=1) - np.diag(h) ** 2) / samples)
    assert np.all(np.abs(estimate - np.diag(h)) < 5 * standard_error), (estimate, np.diag(h), standard_error)


def test_hutchinson_diagonal_is_reproducible_from_its_rng():
    model, x, y, _ = least_squares(n=50)
    first = C.hutchinson_diagonal(model, [(x, y)], half_squares, samples=3, rng=np.random.default_rng(7))
    again = C.hutchinson_diagonal(model, [(x, y)], half_squares, samples=3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(first[(model, "weight")], again[(model, "weight")])


# ---------------------------------------------------------------------------------------------- Fisher
def test_fisher_diagonal_is_the_mean_squared_per_sample_gradient():
    model, x, y, _ = least_squares()
    r = x @ model.weight.data.ravel() - y
    fisher = C.fisher_diagonal(model, [(x[:150], y[:150]), (x[150:], y[150:])], half_squares)[(model, "weight")]
    np.testing.assert_allclose(fisher.ravel(), (r[:, None] ** 2 * x ** 2).mean(axis=0), rtol=1e-10)


def test_fisher_equals_the_hessian_at_the_true_parameters_with_unit_noise():
    # y = X w* + ε, ε ~ N(0, 1): at w = w*, F_qq = (1/N) Σ ε_i² x_iq² → H_qq. Relative standard error
    # √(6/N) ≈ 0.017 for N = 20 000: a 10 % tolerance is ~6 of them.
    model, x, y, w_true = least_squares(n=20000, d=4)
    model.weight.data = w_true[None, :].copy()
    fisher = C.fisher_diagonal(model, [(x, y)], half_squares)[(model, "weight")].ravel()
    np.testing.assert_allclose(fisher, np.diag(x.T @ x / len(x)), rtol=0.1)


def test_fisher_is_not_the_hessian_elsewhere():
    # away from w*: r_i = x_i·(w − w*) + ε_i, so F_qq ≥ H_qq (1 + Var(x·δ)) — far from H
    model, x, y, w_true = least_squares(n=20000, d=4)
    model.weight.data = (w_true + 1.0)[None, :]
    fisher = C.fisher_diagonal(model, [(x, y)], half_squares)[(model, "weight")].ravel()
    assert np.all(fisher > 2 * np.diag(x.T @ x / len(x)))


def test_fisher_scales_with_the_noise_variance():
    # the same model with noise of variance 4 at w*: F ≈ 4H — the Fisher/Hessian identity needs unit variance
    model, x, y, w_true = least_squares(n=20000, d=4, noise=2.0)
    model.weight.data = w_true[None, :].copy()
    fisher = C.fisher_diagonal(model, [(x, y)], half_squares)[(model, "weight")].ravel()
    np.testing.assert_allclose(fisher, 4 * np.diag(x.T @ x / len(x)), rtol=0.1)


def per_sample_fisher(model, x, y):
    """Reference: one backward per sample (autograd on batches of one), squared gradients averaged."""
    layers = C.weight_layers(model)
    total = {m: np.zeros(m.weight.shape) for m in layers}
    for i in range(len(x)):
        model.zero_grad()
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        for m in layers:
            total[m] += m.weight.grad ** 2
    model.zero_grad()
    return {m: t / len(x) for m, t in total.items()}


def test_fisher_diagonal_of_conv_and_linear_layers_matches_per_sample_backward():
    rng = np.random.default_rng(0)
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(2, 3, 3, padding=1, stride=2, rng=rng), relu=nn.ReLU(),
                                      flatten=nn.Flatten(), fc=nn.Linear(27, 4, rng=rng))).double()
    x, y = rng.standard_normal((7, 2, 5, 5)), rng.integers(0, 4, 7)
    fisher = C.fisher_diagonal(model, [(x[:5], y[:5]), (x[5:], y[5:])], chunk=2)  # chunks of 2, 2, 1 and 2
    expected = per_sample_fisher(model, x, y)
    for m in (model.conv, model.fc):
        np.testing.assert_allclose(fisher[(m, "weight")], expected[m], rtol=1e-9, atol=1e-14)


def test_fisher_diagonal_of_grouped_and_depthwise_convolutions():
    rng = np.random.default_rng(2)
    model = nn.Sequential(OrderedDict(grouped=nn.Conv2d(2, 4, 3, padding=1, groups=2, rng=rng), relu=nn.ReLU(),
                                      depthwise=nn.Conv2d(4, 4, 3, groups=4, rng=rng), flatten=nn.Flatten(),
                                      fc=nn.Linear(36, 3, rng=rng))).double()
    x, y = rng.standard_normal((5, 2, 5, 5)), rng.integers(0, 3, 5)
    fisher = C.fisher_diagonal(model, [(x, y)], chunk=3)
    expected = per_sample_fisher(model, x, y)
    for m in (model.grouped, model.depthwise, model.fc):
        np.testing.assert_allclose(fisher[(m, "weight")], expected[m], rtol=1e-9, atol=1e-14)


def test_fisher_diagonal_of_a_linear_on_tokens_sums_over_tokens_before_squaring():
    rng = np.random.default_rng(1)
    model = nn.Sequential(OrderedDict(tok=nn.Linear(3, 4, rng=rng), relu=nn.ReLU(), flatten=nn.Flatten(),
                                      head=nn.Linear(20, 2, rng=rng))).double()
    x, y = rng.standard_normal((6, 5, 3)), rng.integers(0, 2, 6)  # 6 sequences of 5 tokens
    fisher = C.fisher_diagonal(model, [(x, y)])
    expected = per_sample_fisher(model, x, y)
    for m in (model.tok, model.head):
        np.testing.assert_allclose(fisher[(m, "weight")], expected[m], rtol=1e-9, atol=1e-14)


# ---------------------------------------------------------------------------------------------- OBD
def test_obd_saliency_is_half_h_w_squared():
    np.testing.assert_allclose(C.obd_saliency(np.array([2.0, -1.0, 0.5]), np.array([1.0, 4.0, 8.0])),
                               [2.0, 2.0, 1.0])


def test_obd_with_the_fisher_estimator():
    model, x, y, _ = least_squares()
    w = model.weight.data.ravel()
    fisher = ((x @ w - y)[:, None] ** 2 * x ** 2).mean(axis=0)
    scores = C.obd(model, [(x, y)], half_squares, estimator="fisher")
    np.testing.assert_allclose(scores[(model, "weight")].ravel(), 0.5 * fisher * w ** 2, rtol=1e-10)


def test_obd_clips_negative_hutchinson_estimates_to_zero():
    # a ReLU network and 2 samples: some diagonal estimates come out negative (noise); the pruning functions
    # rank |scores|, so a negative saliency must become 0 (least important), not keep its magnitude
    rng = np.random.default_rng(0)
    model = models.mlp([6, 8, 3], rng=rng, flatten=False).double()
    data = [(rng.standard_normal((32, 6)), rng.integers(0, 3, 32))]
    diagonal = C.hutchinson_diagonal(model, data, samples=2, rng=np.random.default_rng(1))
    scores = C.obd(model, data, samples=2, rng=np.random.default_rng(1))
    negative = 0
    for key, h in diagonal.items():
        w = C.weight_value(key[0])
        np.testing.assert_allclose(scores[key], np.where(h > 0, 0.5 * h * w ** 2, 0.0), rtol=1e-12)
        negative += int((h < 0).sum())
    assert negative > 0, "the case must contain negative estimates to test anything"


def test_obd_rejects_an_unknown_estimator():
    model, x, y, _ = least_squares(n=10)
    with pytest.raises(ValueError, match="estimator"):
        C.obd(model, [(x, y)], half_squares, estimator="exact")


# ---------------------------------------------------------------------------------------------- layer-wise OBS
def best_weights_for_mask(w_row, x, keep):
    """argmin over ŵ with ŵ[~keep] = 0 of ‖X(w − ŵ)‖² — ordinary least squares on the kept columns."""
    new = np.zeros_like(w_row)
    new[keep] = np.linalg.lstsq(x[:, keep], x @ w_row, rcond=None)[0]
    return new


def layer_error(w, new, x):
    return float(((x @ (w - new).T) ** 2).sum() / len(x))


def test_layer_hessian_is_two_xxt_over_n_plus_relative_damping():
    x = np.random.default_rng(0).standard_normal((2, 10, 3))  # extra axes count as samples (tokens)
    flat = x.reshape(20, 3)
    h = 2 * flat.T @ flat / 20
    np.testing.assert_allclose(C.layer_hessian(x, damp=0.1), h + 0.1 * np.mean(np.diag(h)) * np.eye(3), rtol=1e-12)
    np.testing.assert_allclose(C.layer_hessian(x, damp=0.0), h, rtol=1e-12)


def test_reconstruction_error_by_hand():
    w, new = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0]])
    x = np.array([[1.0, 1.0], [0.0, 3.0]])  # output errors 2 and 6 → (4 + 36) / 2
    assert C.reconstruction_error(w, new, x) == pytest.approx(20.0)


def test_obs_update_raises_the_reconstruction_error_by_exactly_the_saliency():
    # row loss ‖(w − ŵ)X‖²/N = ½ δᵀHδ with H = 2XXᵀ/N: the OBS step zeroes w_q, its loss increase is the
    # saliency w_q² / (2[H⁻¹]_qq), and no other ŵ with ŵ_q = 0 does better (lstsq)
    rng = np.random.default_rng(0)
    x, w = correlated(50, 6, rng), rng.standard_normal((3, 6))
    hinv = np.linalg.inv(2 * x.T @ x / len(x))
    for shift in range(6):
        q = (np.arange(3) + shift) % 6
        saliency, delta = C.obs_update(w, np.repeat(hinv[None], 3, axis=0), q)
        assert saliency.shape == (3,) and delta.shape == (3, 6)
        for r in range(3):
            new = w[r] + delta[r]
            assert abs(new[q[r]]) < 1e-12
            assert layer_error(w[r:r + 1], new[None], x) == pytest.approx(saliency[r], rel=1e-9)
            keep = np.arange(6) != q[r]
            np.testing.assert_allclose(new, best_weights_for_mask(w[r], x, keep), atol=1e-9)


def test_obs_prune_rows_reaches_the_optimum_for_its_mask_and_beats_magnitude():
    rng = np.random.default_rng(1)
    x, w = correlated(200, 10, rng), rng.standard_normal((4, 10))
    new, mask = C.obs_prune_rows(w, 2 * x.T @ x / len(x), sparsity=0.5)
    np.testing.assert_array_equal((mask == 0).sum(axis=1), 5)  # round(0.5 · 10) per row
    np.testing.assert_array_equal(new[mask == 0], 0)
    for r in range(4):  # greedy OBS steps compose to the least-squares weights of the final mask
        np.testing.assert_allclose(new[r], best_weights_for_mask(w[r], x, mask[r] == 1), atol=1e-8)
    magnitude = w * prune.magnitude_mask(w, 0.5)
    assert layer_error(w, new, x) < 0.5 * layer_error(w, magnitude, x)


def naive_sparsegpt(w, h, sparsity, blocksize, n=None, m=None):
    """SparseGPT by definition: columns left to right; pruning entry (r, j) applies the OBS update restricted to
    the columns F = {j, …, d−1} not yet processed, with [H_F]⁻¹ inverted explicitly. The mask of each block
    (or each group of m columns) is chosen when it is reached, by w² / [H_F⁻¹]_jj."""
    w = np.array(w, dtype=np.float64)
    rows, d = w.shape
    tail_inverses = [np.linalg.inv(h[j:, j:]) for j in range(d)]
    pivots = np.array([t[0, 0] for t in tail_inverses])
    mask = np.ones(w.shape, dtype=bool)
    for start in range(0, d, blocksize):
        stop = min(start + blocksize, d)
        if m is None:
            saliency = (w[:, start:stop] ** 2 / pivots[start:stop]).ravel()
            drop = np.argsort(saliency, kind="stable")[:round(sparsity * saliency.size)]
            block = np.ones(saliency.size, dtype=bool)
            block[drop] = False
            mask[:, start:stop] = block.reshape(rows, stop - start)
        for j in range(start, stop):
            if m is not None and j % m == 0:
                for r in range(rows):
                    group = w[r, j:j + m] ** 2 / pivots[j:j + m]
                    mask[r, j + np.argsort(group, kind="stable")[:m - n]] = False
            for r in range(rows):
                if not mask[r, j]:
                    w[r, j:] -= w[r, j] / pivots[j] * tail_inverses[j][:, 0]
    return w, mask


@pytest.mark.parametrize("blocksize", [16, 3])
def test_sparsegpt_matches_the_naive_column_sweep(blocksize):
    rng = np.random.default_rng(2)
    x, w = correlated(100, 12, rng), rng.standard_normal((5, 12))
    h = 2 * x.T @ x / len(x)
    new, mask = C.sparsegpt(w, h, sparsity=0.5, blocksize=blocksize)
    expected, expected_mask = naive_sparsegpt(w, h, 0.5, blocksize)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_allclose(new, expected, atol=1e-9)


@pytest.mark.parametrize("blocksize", [4, 8])
def test_sparsegpt_two_four_matches_the_naive_sweep_and_is_a_valid_pattern(blocksize):
    rng = np.random.default_rng(3)
    x, w = correlated(100, 16, rng), rng.standard_normal((6, 16))
    h = C.layer_hessian(x)
    new, mask = C.sparsegpt(w, h, n=2, m=4, blocksize=blocksize)
    expected, expected_mask = naive_sparsegpt(w, h, None, blocksize, n=2, m=4)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_allclose(new, expected, atol=1e-9)
    np.testing.assert_array_equal((mask.reshape(6, 4, 4) != 0).sum(axis=2), 2)
    np.testing.assert_array_equal((new.reshape(6, 4, 4) != 0).sum(axis=2), 2)


def test_sparsegpt_keeps_everything_at_zero_sparsity():
    rng = np.random.default_rng(4)
    x, w = correlated(40, 8, rng), rng.standard_normal((3, 8))
    new, mask = C.sparsegpt(w, C.layer_hessian(x), sparsity=0.0)
    np.testing.assert_array_equal(mask, 1)
    np.testing.assert_allclose(new, w, atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(n=2), dict(m=4), dict(n=2, m=3), dict(n=2, m=4, blocksize=6),
                                    dict(n=5, m=4)])
def test_sparsegpt_rejects_inconsistent_patterns(kwargs):
    rng = np.random.default_rng(5)
    x, w = correlated(40, 12, rng), rng.standard_normal((3, 12))
    with pytest.raises(ValueError, match="sparsegpt"):
        C.sparsegpt(w, C.layer_hessian(x), **kwargs)


@pytest.mark.parametrize("seed", range(3))
def test_obs_and_sparsegpt_beat_magnitude_on_random_layers_with_correlated_inputs(seed):
    rng = np.random.default_rng(seed)
    x, w = correlated(512, 32, rng), rng.standard_normal((16, 32))
    h = C.layer_hessian(x)
    magnitude = layer_error(w, w * prune.magnitude_mask(w, 0.5), x)
    for new, _ in (C.obs_prune_rows(w, h, 0.5), C.sparsegpt(w, h, 0.5)):
        assert layer_error(w, new, x) < 0.5 * magnitude
        assert (new == 0).sum() == 256


@pytest.mark.parametrize("method", ["obs", "sparsegpt", "auto"])
def test_layerwise_obs_prunes_every_linear_to_the_sparsity(method):
    rng = np.random.default_rng(0)
    model = models.mlp([12, 10, 8, 3], rng=rng, flatten=False)
    data = [(rng.standard_normal((100, 12)).astype(np.float32), rng.integers(0, 3, 100))]
    layers = C.weight_layers(model)
    errors = C.layerwise_obs(model, data, sparsity=0.5, method=method)
    assert list(errors) == layers
    for layer in layers:
        assert prune.is_pruned(layer)
        rows, d = layer.weight_mask.shape
        if method == "sparsegpt":  # one block here: round(0.5 · size) over the layer
            assert (layer.weight_mask == 0).sum() == round(0.5 * rows * d)
        else:                      # per row
            np.testing.assert_array_equal((layer.weight_mask == 0).sum(axis=1), round(0.5 * d))
        np.testing.assert_array_equal(layer.weight.data[layer.weight_mask == 0], 0)
        assert errors[layer] > 0 and np.isfinite(errors[layer])


def test_layerwise_obs_updates_the_surviving_weights_and_reports_the_first_layer_error():
    rng = np.random.default_rng(1)
    model = models.mlp([12, 10, 3], rng=rng, flatten=False)
    x = rng.standard_normal((100, 12)).astype(np.float32)
    first = model[0]
    w = first.weight.data.astype(np.float64).copy()
    errors = C.layerwise_obs(model, [(x, rng.integers(0, 3, 100))], sparsity=0.5, method="obs")
    new = first.weight.data.astype(np.float64)
    kept = first.weight_mask == 1
    assert not np.allclose(new[kept], w[kept])                        # compensated, not just masked
    assert errors[first] == pytest.approx(layer_error(w, new, x.astype(np.float64)), rel=1e-4)
    assert errors[first] < layer_error(w, w * kept, x.astype(np.float64))


def test_layerwise_obs_rejects_bad_arguments():
    model = models.mlp([4, 3], rng=np.random.default_rng(0), flatten=False)
    data = [(np.ones((5, 4), np.float32), np.zeros(5, np.int64))]
    with pytest.raises(ValueError, match="method"):
        C.layerwise_obs(model, data, method="exact")
    with pytest.raises(ValueError, match="sparsegpt"):
        C.layerwise_obs(model, data, method="obs", n=2, m=4)
    with pytest.raises(ValueError, match="data"):
        C.layerwise_obs(model, None)
    assert not prune.is_pruned(model[0])
