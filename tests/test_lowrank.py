"""Tests of minprune.related.lowrank: the even √Σ split of the truncated SVD, the Eckart–Young identity
‖W − BA‖_F² = Σ_{i>r} σ_i², rank chosen by kept energy, factorised Linear/Conv2d layers that compute the same
function at full rank, and ``factorize``'s report of parameter counts written out by hand."""
import numpy as np
import pytest

from minprune import models, nn, prune
from minprune.related import lowrank as L
from minprune.tensor import no_grad


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("shape", [(7, 5), (5, 7), (6, 6)])
def test_eckart_young_identity_for_every_rank(shape):
    w = rng(1).normal(size=shape)
    sigma = np.linalg.svd(w, compute_uv=False)
    for r in range(1, min(shape) + 1):
        a, b, s = L.svd_factors(w, r)
        assert a.shape == (r, shape[1]) and b.shape == (shape[0], r)
        np.testing.assert_allclose(s, sigma, rtol=1e-12)
        residual = np.sum((w - b @ a) ** 2)
        assert residual == pytest.approx(np.sum(sigma[r:] ** 2), rel=1e-9, abs=1e-12)


def test_truncation_is_the_best_rank_r_approximation():
    # Eckart–Young: no other rank-r matrix does better (compare with random rank-r products and a perturbation)
    w = rng(2).normal(size=(8, 6))
    a, b, _ = L.svd_factors(w, 2)
    best = np.sum((w - b @ a) ** 2)
    g = rng(3)
    for _ in range(20):
        other = g.normal(size=(8, 2)) @ g.normal(size=(2, 6))
        assert np.sum((w - other) ** 2) > best
        assert np.sum((w - (b + 1e-3 * g.normal(size=b.shape)) @ a) ** 2) >= best


def test_singular_values_are_split_evenly():
    # A = √Σ_r V_rᵀ and B = U_r √Σ_r: then A Aᵀ = Σ_r and BᵀB = Σ_r (whatever the signs of the singular vectors)
    w = rng(4).normal(size=(9, 5))
    a, b, s = L.svd_factors(w, 3)
    np.testing.assert_allclose(a @ a.T, np.diag(s[:3]), atol=1e-12)
    np.testing.assert_allclose(b.T @ b, np.diag(s[:3]), atol=1e-12)
    u, _, vt = np.linalg.svd(w, full_matrices=False)
    np.testing.assert_allclose(b @ a, (u[:, :3] * s[:3]) @ vt[:3], atol=1e-12)


def test_choose_rank_by_energy_by_hand():
    s = np.array([3.0, 2.0, 1.0])                 # σ² = 9, 4, 1: cumulative energy 9/14, 13/14, 1
    assert L.choose_rank(s, energy=0.5) == 1
    assert L.choose_rank(s, energy=9 / 14) == 1
    assert L.choose_rank(s, energy=0.65) == 2
    assert L.choose_rank(s, energy=13 / 14) == 2
    assert L.choose_rank(s, energy=0.95) == 3
    assert L.choose_rank(s, energy=1.0) == 3
    assert L.choose_rank(s, rank=2) == 2


@pytest.mark.parametrize("kwargs", [{}, {"rank": 1, "energy": 0.5}, {"rank": 0}, {"rank": 4}, {"energy": 0.0},
                                    {"energy": 1.5}])
def test_choose_rank_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        L.choose_rank(np.array([3.0, 2.0, 1.0]), **kwargs)


def linear(n_in=12, n_out=7, bias=True, seed=5):
    return nn.Linear(n_in, n_out, bias=bias, rng=rng(seed))


@pytest.mark.parametrize("bias", [True, False])
def test_factorize_linear_full_rank_has_same_outputs(bias):
    layer = linear(bias=bias)
    seq = L.factorize_linear(layer, rank=7)
    assert isinstance(seq, nn.Sequential) and len(seq) == 2
    first, second = seq
    assert (first.in_features, first.out_features, first.bias) == (12, 7, None)
    assert (second.in_features, second.out_features) == (7, 7) and (second.bias is not None) == bias
    x = rng(6).normal(size=(4, 12)).astype(np.float32)
    with no_grad():
        np.testing.assert_allclose(seq(x).data, layer(x).data, rtol=1e-5, atol=1e-5)


def test_factorize_linear_low_rank_weight_is_the_truncated_svd():
    layer = linear()
    seq = L.factorize_linear(layer, rank=3)
    product = seq[1].weight.data.astype(np.float64) @ seq[0].weight.data.astype(np.float64)
    a, b, _ = L.svd_factors(layer.weight.data, 3)
    np.testing.assert_allclose(product, b @ a, atol=1e-5)
    np.testing.assert_array_equal(seq[1].bias.data, layer.bias.data)
    assert seq[0].weight.dtype == np.float32


def test_factorize_linear_by_energy():
    layer = linear()
    s = np.linalg.svd(layer.weight.data.astype(np.float64), compute_uv=False)
    kept = np.cumsum(s ** 2) / np.sum(s ** 2)
    seq = L.factorize_linear(layer, energy=0.8)
    r = seq[0].out_features
    assert kept[r - 1] >= 0.8 - 1e-12 and (r == 1 or kept[r - 2] < 0.8)


def test_factorize_linear_reads_the_pruned_weight():
    layer = linear()
    prune.l1_unstructured(layer, "weight", 0.5)
    effective = layer.weight_orig.data * layer.weight_mask
    seq = L.factorize_linear(layer, rank=7)
    product = seq[1].weight.data.astype(np.float64) @ seq[0].weight.data.astype(np.float64)
    np.testing.assert_allclose(product, effective, atol=1e-5)


def test_factorize_conv_full_rank_same_outputs_and_shapes():
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, rng=rng(7))
    seq = L.factorize_conv(conv, rank=5)                # min(5, 3·3·3) = 5: full rank
    first, second = seq
    assert first.weight.shape == (5, 3, 3, 3) and second.weight.shape == (5, 5, 1, 1)
    assert first.stride == conv.stride and first.padding == conv.padding and first.bias is None
    x = rng(8).normal(size=(2, 3, 9, 9)).astype(np.float32)
    with no_grad():
        np.testing.assert_allclose(seq(x).data, conv(x).data, rtol=1e-4, atol=1e-5)


def test_factorize_conv_low_rank_is_the_truncated_svd_of_the_flattened_filters():
    conv = nn.Conv2d(4, 6, 3, rng=rng(9))
    seq = L.factorize_conv(conv, rank=2)
    flat = conv.weight.data.reshape(6, -1)
    a, b, _ = L.svd_factors(flat, 2)
    product = seq[1].weight.data.reshape(6, 2) @ seq[0].weight.data.reshape(2, -1)
    np.testing.assert_allclose(product, b @ a, atol=1e-5)


def test_factorize_conv_rejects_groups():
    with pytest.raises(ValueError, match="grouped"):
        L.factorize_conv(nn.Conv2d(4, 4, 3, groups=2, rng=rng(0)), rank=2)


def test_factorize_model_report_by_hand():
    model = models.mlp([64, 48, 32, 6], rng=rng(10))      # Flatten, 0: 64→48, ReLU, 2: 48→32, ReLU, 4: 32→6
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    new, report = L.factorize(model, rank=8)
    # rank 8 shrinks "1" (64·48 → 8·(64 + 48)) and "3" (48·32 → 8·(48 + 32)); "5" (32 → 6) has rank ≤ 6 and is
    # left alone
    assert report == {
        "1": {"rank": 8, "parameters_before": 64 * 48 + 48, "parameters_after": 8 * (64 + 48) + 48},
        "3": {"rank": 8, "parameters_before": 48 * 32 + 32, "parameters_after": 8 * (48 + 32) + 32},
    }
    assert sum(p.size for p in new.parameters()) == 8 * 112 + 48 + 8 * 80 + 32 + 32 * 6 + 6
    assert isinstance(new[1], nn.Sequential) and isinstance(new[5], nn.Linear)
    for name, p in model.named_parameters():                   # the original is untouched
        np.testing.assert_array_equal(p.data, before[name])


def test_factorize_full_rank_model_same_outputs():
    model = models.mlp([6, 4, 4], rng=rng(11), flatten=False)
    new, report = L.factorize(model, rank=4, layers=["0", "2"])     # full rank: bigger, but the same function
    assert report["0"] == {"rank": 4, "parameters_before": 6 * 4 + 4, "parameters_after": 4 * 6 + 4 * 4 + 4}
    x = rng(12).normal(size=(3, 6)).astype(np.float32)
    with no_grad():
        np.testing.assert_allclose(new(x).data, model(x).data, rtol=1e-5, atol=1e-5)


def test_factorize_skips_layers_it_would_not_shrink():
    model = models.mlp([8, 8, 8], rng=rng(13), flatten=False)
    new, report = L.factorize(model, rank=5)             # 5·16 = 80 ≥ 64 weights: no saving anywhere
    assert report == {}
    assert all(isinstance(m, (nn.Linear, nn.ReLU)) for m in new)


def test_factorize_rejects_unknown_layers():
    with pytest.raises(ValueError, match="unknown layer"):
        L.factorize(models.mlp([4, 3, 2], rng=rng(0), flatten=False), rank=1, layers=["fc9"])
