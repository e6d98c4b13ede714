"""LLM-style one-shot pruning (minprune/prune/llm.py): Wanda, magnitude and SparseGPT masks and weights, N:M
patterns, perplexity, attention-head importance (Michel et al. 2019) and physical head removal.

Every expected value is computed here independently: Wanda masks by hand and by a per-row loop, SparseGPT by a
naive OBS sweep that inverts the Hessian of the remaining columns at every step (no Cholesky), head importance by
central finite differences on the head gates, perplexity from a log-softmax written out.
"""
import copy

import numpy as np
import pytest

import minprune as mp
from minprune import models, nn, prune
from minprune.prune import llm

SMALL = {"vocab_size": 11, "d_model": 8, "n_heads": 2, "n_layers": 2, "context": 6}


def small_gpt(seed=0):
    model = models.TinyGPT(**SMALL, rng=np.random.default_rng(seed)).eval()
    rng = np.random.default_rng(seed + 100)
    for p in model.parameters():   # break the symmetric initialisation (zero biases, unit LayerNorms)
        p.data += rng.normal(0, 0.05, p.shape).astype(p.dtype)
    return model


def token_batches(count=2, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 11, (n, 6)), rng.integers(0, 11, (n, 6))) for _ in range(count)]


def mask_of(module, name):
    return getattr(module, name + "_mask")


# ---------------------------------------------------------------------------------------------- Wanda
def test_wanda_mask_by_hand():
    weight = np.array([[1.0, -2.0, 3.0, 0.5],
                       [4.0, 1.0, -1.0, 2.0]])
    inputs = np.array([[[1.0, 0.0, 0.0, 6.0],
                        [0.0, 0.1, 1.0, 8.0]]])        # (N=1, L=2, in=4): feature norms ‖X_j‖ = 1, 0.1, 1, 10
    # scores |W|·‖X‖: row 0 → 1, 0.2, 3, 5; row 1 → 4, 0.1, 1, 20; each row drops its 2 smallest
    np.testing.assert_array_equal(llm.wanda_mask(weight, inputs, 0.5), [[0, 0, 1, 1], [1, 0, 0, 1]])
    # magnitude alone would keep different weights: the large-input feature 3 rescues the small 0.5
    np.testing.assert_array_equal(llm.row_mask(np.abs(weight), 0.5), [[0, 1, 1, 0], [1, 0, 0, 1]])


def test_wanda_mask_prunes_the_same_count_in_every_row():
    rng = np.random.default_rng(0)
    weight, inputs = rng.standard_normal((7, 10)), rng.standard_normal((5, 3, 10)) * rng.uniform(0.1, 5, 10)
    for sparsity in (0.0, 0.3, 0.5, 1.0):
        mask = llm.wanda_mask(weight, inputs, sparsity)
        assert mask.shape == (7, 10) and mask.dtype == np.float32
        np.testing.assert_array_equal((mask == 0).sum(axis=1), round(sparsity * 10))
        scores = np.abs(weight) * np.sqrt((inputs.reshape(-1, 10) ** 2).sum(0))
        for row, kept in zip(scores, mask):                                     # every pruned score ≤ every kept
            if 0 < kept.sum() < 10:
                assert row[kept == 0].max() <= row[kept == 1].min()


def test_row_mask_rejects_a_bad_sparsity():
    with pytest.raises(ValueError, match="amount"):
        llm.row_mask(np.ones((2, 4)), 1.5)


def test_wanda_prune_is_sequential_and_uses_inputs_after_earlier_pruning():
    """A Linear → ReLU → Linear: layer 2's norms come from layer 1's *pruned* output (as Wanda and SparseGPT)."""
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(6, 8, rng=rng), nn.ReLU(), nn.Linear(8, 4, rng=rng)).double()
    w1, b1, w2 = (model[0].weight.data.copy(), model[0].bias.data.copy(), model[2].weight.data.copy())
    x = rng.standard_normal((20, 6))
    fractions = prune.wanda_prune(model, [(x, np.zeros(20))], sparsity=0.5)
    assert fractions == {"0.weight": 0.5, "2.weight": 0.5}

    def per_row(w, inputs):                                                     # a loop over rows, argsort each
        norms = np.sqrt((inputs ** 2).sum(0))
        mask = np.ones_like(w)
        for i, row in enumerate(np.abs(w) * norms):
            mask[i, np.argsort(row, kind="stable")[:len(row) // 2]] = 0
        return mask

    m1 = per_row(w1, x)
    hidden = np.maximum(x @ (w1 * m1).T + b1, 0)
    m2 = per_row(w2, hidden)
    np.testing.assert_array_equal(mask_of(model[0], "weight"), m1)
    np.testing.assert_array_equal(mask_of(model[2], "weight"), m2)
    dense_hidden = np.maximum(x @ w1.T + b1, 0)
    assert not np.array_equal(per_row(w2, dense_hidden), m2), "the test must tell the two orders apart"


def test_magnitude_prune_drops_the_smallest_weights_of_each_row():
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Linear(6, 4, rng=rng))
    w = model[0].weight.data.copy()
    prune.magnitude_prune(model, sparsity=0.5)
    expected = (np.abs(w) >= np.sort(np.abs(w), axis=1)[:, 3:4]).astype(np.float32)   # 3 largest per row kept
    np.testing.assert_array_equal(mask_of(model[0], "weight"), expected)


# ---------------------------------------------------------------------------------------------- SparseGPT
def naive_sparsegpt(weight, hessian, sparsity=None, n=None, m=None):
    """OBS column by column: at column i the inverse Hessian of the columns not yet processed, inv(H[i:, i:]),
    gives the update −(w_ri / [H_F⁻¹]₀₀) · H_F⁻¹[0, :] that zeroes w_ri and compensates on columns i…d−1.
    Unstructured: the mask is fixed first (smallest w² / [H_F⁻¹]₀₀ over the whole layer, one block);
    N:M: per group of m columns, when the sweep reaches it, from the updated weights."""
    w = weight.astype(np.float64).copy()
    rows, d = w.shape
    inverses = [np.linalg.inv(hessian[i:, i:]) for i in range(d)]
    diag = np.array([inv[0, 0] for inv in inverses])
    mask = np.ones_like(w, dtype=bool)
    if sparsity is not None:
        saliency = (w ** 2 / diag).ravel()
        k = round(sparsity * saliency.size)
        mask.ravel()[np.argsort(saliency, kind="stable")[:k]] = False
    for i in range(d):
        if m is not None and i % m == 0:
            for r in range(rows):
                group = w[r, i:i + m] ** 2 / diag[i:i + m]
                mask[r, i + np.argsort(group, kind="stable")[:m - n]] = False
        for r in range(rows):
            if not mask[r, i]:
                w[r, i:] -= w[r, i] / inverses[i][0, 0] * inverses[i][0, :]
                w[r, i] = 0.0
    return w, mask


def hessian_by_hand(x, damp=0.01):
    h = 2 * x.T @ x / len(x)
    return h + damp * np.mean(np.diag(h)) * np.eye(len(h))


@pytest.mark.parametrize("pattern", [{"sparsity": 0.5}, {"n": 2, "m": 4}])
def test_sparsegpt_prune_equals_a_naive_obs_sweep(pattern):
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(8, 5, rng=rng)).double()
    w = model[0].weight.data.copy()
    x = rng.standard_normal((40, 8)) @ rng.standard_normal((8, 8))               # correlated features
    prune.sparsegpt_prune(model, [(x, np.zeros(40))], **pattern)
    expected_w, expected_mask = naive_sparsegpt(w, hessian_by_hand(x), **pattern)
    np.testing.assert_array_equal(mask_of(model[0], "weight"), expected_mask)
    np.testing.assert_allclose(model[0].weight_orig.data * expected_mask, expected_w, atol=1e-10)
    # the compensation pays: reconstruction error below that of the same mask without the update
    error = lambda v: np.linalg.norm(x @ (v - w).T)
    assert error(expected_w) < 0.9 * error(w * expected_mask)


# ---------------------------------------------------------------------------------------------- patterns on TinyGPT
@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
def test_two_four_pattern_holds_in_every_group_of_four(method):
    model = small_gpt()
    calibration = token_batches()
    if method == "magnitude":
        prune.magnitude_prune(model, n=2, m=4)
    else:
        getattr(prune, f"{method}_prune")(model, calibration, n=2, m=4)
    targets = llm.prunable_projections(model)
    assert len(targets) == 2 * 4 + 1                                               # q/k/v, out, fc1, fc2 ×2, head
    for module, name in targets:
        mask = mask_of(module, name)
        groups = mask.reshape(-1, 4)
        np.testing.assert_array_equal(groups.sum(axis=1), 2, err_msg=f"{method}: {module!r}.{name}")
        effective = getattr(module, name + "_orig").data * mask
        assert np.all((effective.reshape(-1, 4) == 0).sum(axis=1) >= 2)
    model(calibration[0][0])                                                        # still runs


@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
def test_fifty_percent_unstructured(method):
    model = small_gpt()
    args = () if method == "magnitude" else (token_batches(),)
    fractions = getattr(prune, f"{method}_prune")(model, *args, sparsity=0.5)
    assert set(fractions) == {"blocks.0.attn.in_proj_weight", "blocks.0.attn.out_proj.weight",
                              "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight",
                              "blocks.1.attn.in_proj_weight", "blocks.1.attn.out_proj.weight",
                              "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc2.weight", "head.weight"}
    assert all(f == 0.5 for f in fractions.values())
    for module, name in llm.prunable_projections(model):
        mask = mask_of(module, name)
        if method == "sparsegpt":            # per block of columns (here one block): half of the whole layer
            assert mask.sum() == mask.size // 2
        else:                                # per output row
            np.testing.assert_array_equal(mask.sum(axis=1), mask.shape[1] // 2)


@pytest.mark.parametrize("kwargs, error", [({"method": "obs"}, "method"), ({"sparsity": 1.5}, "amount"),
                                           ({"n": 2}, "both n and m"), ({"n": 2, "m": 3}, "divisible"),
                                           ({"n": 5, "m": 4}, "n <= m")])
def test_one_shot_prune_bad_input_raises_and_changes_nothing(kwargs, error):
    model = small_gpt()
    before = model.state_dict()
    with pytest.raises(ValueError, match=error):
        llm.one_shot_prune(model, token_batches(), **{"method": "wanda", **kwargs})
    assert model.state_dict().keys() == before.keys()
    assert not prune.is_pruned(model.blocks[0].attn)


def test_wanda_without_calibration_data_raises():
    with pytest.raises(ValueError, match="data"):
        prune.wanda_prune(small_gpt(), None)


# ---------------------------------------------------------------------------------------------- perplexity
def test_perplexity_is_exp_of_the_mean_token_cross_entropy():
    model = small_gpt()
    batches = token_batches(count=1, n=2) + token_batches(count=1, n=5, seed=1)      # unequal sizes: per token
    total, count = 0.0, 0
    for x, y in batches:
        logits = model(x).data.astype(np.float64)
        log_p = logits - logits.max(-1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
        total -= np.take_along_axis(log_p, y[..., None], -1).sum()
        count += y.size
    assert llm.perplexity(model, batches) == pytest.approx(np.exp(total / count), rel=1e-5)


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    model = small_gpt()
    model.head.weight.data[...] = 0
    model.head.bias.data[...] = 0
    assert llm.perplexity(model, token_batches()) == pytest.approx(11.0, rel=1e-6)


# ---------------------------------------------------------------------------------------------- heads
def test_head_importance_equals_finite_differences_of_the_gates():
    model = small_gpt().double()
    data = token_batches(count=3)
    scores = llm.head_importance(model, data)
    eps = 1e-6
    for name, attn in llm.attention_layers(model):
        grads = np.zeros((len(data), attn.num_heads))
        for b, (x, y) in enumerate(data):
            for h in range(attn.num_heads):
                values = []
                for sign in (1, -1):
                    gate = np.ones(attn.num_heads)
                    gate[h] += sign * eps
                    attn.head_gate = mp.tensor(gate)
                    with mp.no_grad():
                        values.append(models.lm_loss(model(x), y).item())
                grads[b, h] = (values[0] - values[1]) / (2 * eps)
        attn.head_gate = None
        importance = np.abs(grads).mean(axis=0)
        np.testing.assert_allclose(scores[name], importance / np.linalg.norm(importance), rtol=1e-5)


def test_head_importance_leaves_the_model_as_it_was():
    model = small_gpt().train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    llm.head_importance(model, token_batches())
    assert model.training
    assert all(attn.head_gate is None for _, attn in llm.attention_layers(model))
    assert all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_gate_sensitivity_by_hand():
    grads = np.array([[3.0, -4.0], [-3.0, 4.0]])                # signed gradients cancel; |·| must not
    np.testing.assert_allclose(llm.gate_sensitivity(grads), [0.6, 0.8])
    np.testing.assert_array_equal(llm.gate_sensitivity(np.zeros((2, 3))), [0, 0, 0])


def test_prune_heads_equals_gating_and_shrinks_the_projections():
    model = small_gpt()
    x = token_batches()[0][0]
    gated = copy.deepcopy(model)
    gated.blocks[1].attn.head_gate = mp.tensor(np.array([0.0, 1.0], dtype=np.float32))
    expected = gated(x).data
    params = sum(p.size for p in model.parameters())
    llm.prune_heads(model, {"blocks.1.attn": [0]})
    attn = model.blocks[1].attn
    assert attn.num_heads == 1 and attn.in_proj_weight.shape == (12, 8) and attn.out_proj.weight.shape == (8, 4)
    assert params - sum(p.size for p in model.parameters()) == 3 * 4 * 8 + 3 * 4 + 8 * 4   # q,k,v rows + bias + out
    np.testing.assert_allclose(model(x).data, expected, atol=1e-6)


@pytest.mark.parametrize("heads, error", [({"blocks.0.attn": [0], "blocks.1.attn": [2]}, ValueError),
                                          ({"blocks.0.attn": [0], "blocks.1.attn": [0, 1]}, ValueError),
                                          ({"blocks.0.attn": [0], "blocks.9.attn": [0]}, ValueError),
                                          ({"blocks.0.attn": [0], "blocks.1.attn": [0.5]}, TypeError)])
def test_prune_heads_bad_input_raises_and_changes_nothing(heads, error):
    model = small_gpt()
    before = model.state_dict()
    with pytest.raises(error, match="prune_heads"):
        llm.prune_heads(model, heads)
    assert [attn.num_heads for _, attn in llm.attention_layers(model)] == [2, 2]
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
