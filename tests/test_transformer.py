"""Transformer pieces (minprune/nn/transformer.py): MultiheadAttention, Embedding, LayerNorm, GELU, the causal mask,
head gates and head removal, TransformerBlock.

Attention is checked against a naive implementation written here — one Python loop over samples and heads with
the formula softmax(Q_h K_hᵀ / √d + mask) V_h — and by central finite differences in float64; the other layers
against their formulas and finite differences.
"""
import copy
import math

import numpy as np
import pytest

import minprune as mp
from minprune import nn
from minprune.nn.transformer import causal_mask

from helpers import gradcheck, t64


def naive_attention(mha, query, key, value, additive_mask=None, gate=None):
    """(N, L, E) batch-first float64 arrays → (output (N, L, E), weights averaged over heads (N, L, S)).

    ``additive_mask``: None, (L, S), or (N·H, L, S) added to the scores (−inf blocks). One loop per sample and head.
    """
    w = mha.in_proj_weight.data.astype(np.float64)
    b = np.zeros(len(w)) if mha.in_proj_bias is None else mha.in_proj_bias.data.astype(np.float64)
    h, d = mha.num_heads, mha.head_dim
    inner = h * d
    n, length, _ = query.shape
    source = key.shape[1]
    context = np.zeros((n, length, inner))
    weights = np.zeros((n, length, source))
    for i in range(n):
        for head in range(h):
            rows = slice(head * d, (head + 1) * d)
            q = query[i] @ w[:inner][rows].T + b[:inner][rows]
            k = key[i] @ w[inner:2 * inner][rows].T + b[inner:2 * inner][rows]
            v = value[i] @ w[2 * inner:][rows].T + b[2 * inner:][rows]
            scores = q @ k.T / math.sqrt(d)
            if additive_mask is not None:
                scores = scores + (additive_mask if additive_mask.ndim == 2 else additive_mask[i * h + head])
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            weights[i] += p / h
            context[i, :, rows] = (p @ v) * (1.0 if gate is None else gate[head])
    out_w = mha.out_proj.weight.data.astype(np.float64)
    out_b = 0.0 if mha.out_proj.bias is None else mha.out_proj.bias.data.astype(np.float64)
    return context @ out_w.T + out_b, weights


def make_mha(embed_dim=8, num_heads=2, batch_first=True, bias=True, seed=0):
    mha = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=batch_first,
                                rng=np.random.default_rng(seed)).double()
    if bias:  # PyTorch initialises the biases to 0; make them non-zero so a forgotten bias shows
        rng = np.random.default_rng(seed + 1)
        mha.in_proj_bias.data[...] = rng.normal(0, 0.3, mha.in_proj_bias.shape)
        mha.out_proj.bias.data[...] = rng.normal(0, 0.3, mha.out_proj.bias.shape)
    return mha.eval()


# ---------------------------------------------------------------------------------------------- attention values
@pytest.mark.parametrize("bias", [True, False])
def test_attention_equals_naive_per_head_loop(bias):
    rng = np.random.default_rng(0)
    mha = make_mha(embed_dim=8, num_heads=4, bias=bias)
    query, key = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 3, 8))   # cross-attention: L=5, S=3
    value = rng.standard_normal((2, 3, 8))
    out, weights = mha(mp.tensor(query), mp.tensor(key), mp.tensor(value))
    expected, expected_weights = naive_attention(mha, query, key, value)
    assert out.shape == (2, 5, 8) and weights.shape == (2, 5, 3)
    np.testing.assert_allclose(out.data, expected, atol=1e-12)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-12)


def test_attention_batch_first_false_takes_sequence_first_inputs():
    rng = np.random.default_rng(1)
    first = make_mha(batch_first=True)
    second = make_mha(batch_first=False)
    second.load_state_dict(first.state_dict())
    x = rng.standard_normal((3, 4, 8))                                           # (N, L, E)
    out_first, weights_first = first(mp.tensor(x), mp.tensor(x), mp.tensor(x))
    seq_first = mp.tensor(x.transpose(1, 0, 2).copy())                          # (L, N, E)
    out_second, weights_second = second(seq_first, seq_first, seq_first)
    assert out_second.shape == (4, 3, 8)
    np.testing.assert_allclose(out_second.data.transpose(1, 0, 2), out_first.data, atol=1e-12)
    np.testing.assert_allclose(weights_second, weights_first, atol=1e-12)        # weights are (N, L, S) in both
    np.testing.assert_allclose(out_first.data, naive_attention(first, x, x, x)[0], atol=1e-12)


def test_need_weights_false_returns_none():
    x = mp.tensor(np.random.default_rng(0).standard_normal((1, 3, 8)))
    assert make_mha()(x, x, x, need_weights=False)[1] is None


def test_float_mask_is_added_to_the_scores():
    rng = np.random.default_rng(2)
    mha = make_mha()
    x = rng.standard_normal((2, 4, 8))
    mask = rng.normal(0, 2.0, (4, 4))                                            # finite: a bias, not a block
    out, _ = mha(mp.tensor(x), mp.tensor(x), mp.tensor(x), attn_mask=mask)
    np.testing.assert_allclose(out.data, naive_attention(mha, x, x, x, mask)[0], atol=1e-12)
    per_head = rng.normal(0, 2.0, (2 * 2, 4, 4))                                 # (N·H, L, S): one mask per head
    out, _ = mha(mp.tensor(x), mp.tensor(x), mp.tensor(x), attn_mask=per_head)
    np.testing.assert_allclose(out.data, naive_attention(mha, x, x, x, per_head)[0], atol=1e-12)


def test_bool_mask_true_blocks_like_minus_infinity():
    rng = np.random.default_rng(3)
    mha = make_mha()
    x = rng.standard_normal((2, 4, 8))
    blocked = np.array([[False, True, False, True]] * 4)                         # keys 1 and 3 are hidden
    out_bool, weights = mha(mp.tensor(x), mp.tensor(x), mp.tensor(x), attn_mask=blocked)
    out_float, _ = mha(mp.tensor(x), mp.tensor(x), mp.tensor(x), attn_mask=np.where(blocked, -np.inf, 0.0))
    np.testing.assert_allclose(out_bool.data, out_float.data, atol=1e-12)
    assert np.all(weights[:, :, [1, 3]] == 0)
    # Hidden keys are irrelevant: change their values and nothing moves.
    changed = x.copy()
    changed[:, [1, 3]] += 5.0
    out_changed, _ = mha(mp.tensor(x), mp.tensor(changed), mp.tensor(changed), attn_mask=blocked)
    np.testing.assert_allclose(out_changed.data, out_bool.data, atol=1e-12)


def test_causal_mask_shape_and_is_causal_equals_explicit_mask():
    np.testing.assert_array_equal(causal_mask(3), [[False, True, True], [False, False, True], [False, False, False]])
    rng = np.random.default_rng(4)
    mha = make_mha()
    x = mp.tensor(rng.standard_normal((2, 5, 8)))
    implicit = mha(x, x, x, is_causal=True)[0].data
    explicit = mha(x, x, x, attn_mask=causal_mask(5))[0].data
    np.testing.assert_allclose(implicit, explicit, atol=1e-12)
    assert not np.allclose(mha(x, x, x)[0].data, implicit), "attention must not be causal unless asked"


def test_causal_attention_leaks_nothing_from_the_future():
    rng = np.random.default_rng(5)
    mha = make_mha()
    x = rng.standard_normal((2, 6, 8))
    base = mha(mp.tensor(x), mp.tensor(x), mp.tensor(x), is_causal=True)[0].data
    for t in range(6):
        later = x.copy()
        later[:, t] += rng.standard_normal((2, 8))                               # perturb token t only
        out = mha(mp.tensor(later), mp.tensor(later), mp.tensor(later), is_causal=True)[0].data
        np.testing.assert_array_equal(out[:, :t], base[:, :t])                   # earlier positions: bit-identical
        assert np.abs(out[:, t:] - base[:, t:]).max() > 1e-3                     # position t and later: changed


def test_bad_mask_shape_is_rejected():
    mha = make_mha()
    x = mp.tensor(np.zeros((2, 4, 8)))
    with pytest.raises(ValueError, match="attn_mask"):
        mha(x, x, x, attn_mask=np.zeros((4, 5)))


def test_embed_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)


def test_pytorch_parameter_names_and_shapes():
    mha = nn.MultiheadAttention(8, 2)
    shapes = {name: p.shape for name, p in mha.named_parameters()}
    assert shapes == {"in_proj_weight": (24, 8), "in_proj_bias": (24,), "out_proj.weight": (8, 8),
                      "out_proj.bias": (8,)}
    assert np.all(mha.in_proj_bias.data == 0) and np.all(mha.out_proj.bias.data == 0)


# ---------------------------------------------------------------------------------------------- gradients
def test_attention_gradients_by_finite_differences():
    rng = np.random.default_rng(6)
    mha = make_mha(embed_dim=4, num_heads=2)
    q, kv = t64(rng.standard_normal((2, 3, 4))), t64(rng.standard_normal((2, 4, 4)))
    mask = np.array([[0.3, -np.inf, 0.0, -0.5]] * 3)                                # a bias and one blocked key
    gradcheck(lambda q, kv: mha(q, kv, kv, attn_mask=mask, need_weights=False)[0],
              q, kv, wrt=[q, kv, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias])


def test_causal_self_attention_gradients_by_finite_differences():
    rng = np.random.default_rng(7)
    mha = make_mha(embed_dim=4, num_heads=2, batch_first=False)
    x = t64(rng.standard_normal((3, 2, 4)))                                       # (L, N, E)
    gradcheck(lambda x: mha(x, x, x, is_causal=True, need_weights=False)[0], x,
              wrt=[x, mha.in_proj_weight, mha.out_proj.weight])


def test_head_gate_gradient_by_finite_differences():
    rng = np.random.default_rng(8)
    mha = make_mha(embed_dim=6, num_heads=3)
    mha.head_gate = t64([1.0, 0.5, -2.0])
    x = mp.tensor(rng.standard_normal((2, 3, 6)))
    expected, _ = naive_attention(mha, x.data, x.data, x.data, gate=[1.0, 0.5, -2.0])
    np.testing.assert_allclose(mha(x, x, x)[0].data, expected, atol=1e-12)
    gradcheck(lambda g: mha(x, x, x, need_weights=False)[0], mha.head_gate)


# ---------------------------------------------------------------------------------------------- head removal
def test_remove_heads_equals_gating_those_heads_to_zero():
    rng = np.random.default_rng(9)
    mha = make_mha(embed_dim=8, num_heads=4)
    x = mp.tensor(rng.standard_normal((2, 5, 8)))
    gated = copy.deepcopy(mha)
    gated.head_gate = mp.tensor(np.array([1.0, 0.0, 1.0, 0.0]))
    expected = gated(x, x, x, is_causal=True)[0].data
    mha.remove_heads([3, 1])
    assert mha.num_heads == 2 and mha.in_proj_weight.shape == (12, 8) and mha.in_proj_bias.shape == (12,)
    assert mha.out_proj.weight.shape == (8, 4) and mha.out_proj.in_features == 4
    np.testing.assert_allclose(mha(x, x, x, is_causal=True)[0].data, expected, atol=1e-12)
    # the kept rows are heads 0 and 2 of each of q, k, v, in that order
    original = gated.in_proj_weight.data
    keep = np.r_[0:2, 4:6]
    np.testing.assert_array_equal(mha.in_proj_weight.data, np.concatenate([original[keep + 8 * i] for i in range(3)]))


def test_remove_heads_keeps_a_gate_of_the_remaining_heads():
    mha = make_mha(embed_dim=8, num_heads=4)
    mha.head_gate = mp.tensor(np.array([0.1, 0.2, 0.3, 0.4]))
    mha.remove_heads([0, 2])
    np.testing.assert_array_equal(mha.head_gate.data, [0.2, 0.4])


@pytest.mark.parametrize("heads", [[4], [-1], [0, 1, 2, 3]])
def test_remove_heads_bad_index_raises_and_changes_nothing(heads):
    mha = make_mha(embed_dim=8, num_heads=4)
    before = mha.state_dict()
    with pytest.raises(ValueError, match="head"):
        mha.remove_heads(heads)
    after = mha.state_dict()
    assert mha.num_heads == 4 and before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


# ---------------------------------------------------------------------------------------------- Embedding
def test_embedding_lookup_and_gradient_accumulates_repeated_ids():
    emb = nn.Embedding(5, 3, rng=np.random.default_rng(0)).double()
    ids = np.array([[0, 2, 2], [4, 2, 0]])
    out = emb(ids)
    np.testing.assert_array_equal(out.data, emb.weight.data[ids])
    grads = gradcheck(lambda w: emb(ids), emb.weight)
    upstream = np.random.default_rng(0).standard_normal((2, 3, 3))               # gradcheck's contraction weights
    expected = np.zeros((5, 3))
    for (i, j), k in np.ndenumerate(ids):
        expected[k] += upstream[i, j]
    np.testing.assert_allclose(grads[0], expected, atol=1e-12)                   # row 2 gets three contributions


@pytest.mark.parametrize("ids, error", [(np.array([0, 5]), ValueError), (np.array([-1, 0]), ValueError),
                                        (np.array([0.0, 1.0]), TypeError)])
def test_embedding_bad_ids_raise(ids, error):
    emb = nn.Embedding(5, 3)
    with pytest.raises(error, match="ids|integer"):
        emb(ids)


# ---------------------------------------------------------------------------------------------- LayerNorm, GELU
def test_layer_norm_formula_and_gradients():
    rng = np.random.default_rng(10)
    ln = nn.LayerNorm(6).double()
    ln.weight.data[...] = rng.uniform(0.5, 1.5, 6)
    ln.bias.data[...] = rng.normal(0, 1, 6)
    x = t64(rng.normal(2.0, 3.0, (2, 3, 6)))
    mean, var = x.data.mean(-1, keepdims=True), x.data.var(-1, keepdims=True)
    expected = (x.data - mean) / np.sqrt(var + 1e-5) * ln.weight.data + ln.bias.data
    np.testing.assert_allclose(ln(x).data, expected, atol=1e-12)
    gradcheck(lambda x: ln(x), x, wrt=[x, ln.weight, ln.bias])


def test_layer_norm_over_two_axes_and_shape_check():
    rng = np.random.default_rng(11)
    ln = nn.LayerNorm((2, 3), elementwise_affine=False).double()
    x = t64(rng.standard_normal((4, 2, 3)))
    flat = x.data.reshape(4, 6)
    expected = (flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(x).data.reshape(4, 6), expected, atol=1e-12)
    gradcheck(lambda x: ln(x), x)
    with pytest.raises(ValueError, match="last dims"):
        nn.LayerNorm(5)(mp.tensor(np.zeros((2, 4))))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_formula_and_gradient(approximate):
    values = np.linspace(-4, 4, 17)
    if approximate == "none":
        expected = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in values]
    else:
        expected = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))) for v in values]
    gelu = nn.GELU(approximate)
    # F.erf is Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, below float32's resolution), so |x|·1.5e-7 at most
    np.testing.assert_allclose(gelu(t64(values)).data, expected, atol=1e-6 if approximate == "none" else 1e-12)
    gradcheck(lambda x: gelu(x), t64(values + 0.01))


# ---------------------------------------------------------------------------------------------- TransformerBlock
def test_transformer_block_is_pre_layer_norm_and_causal():
    rng = np.random.default_rng(12)
    block = nn.TransformerBlock(8, 2, rng=np.random.default_rng(0)).double().eval()
    for p in block.parameters():                                                  # non-trivial LayerNorms and biases
        p.data += rng.normal(0, 0.1, p.shape)
    x = rng.standard_normal((2, 4, 8))
    ln = lambda m, v: (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-5) * m.weight.data \
        + m.bias.data
    normed = ln(block.ln1, x)
    h = x + naive_attention(block.attn, normed, normed, normed, np.where(causal_mask(4), -np.inf, 0.0))[0]
    fc1, fc2 = block.mlp.fc1, block.mlp.fc2
    hidden = ln(block.ln2, h) @ fc1.weight.data.T + fc1.bias.data
    hidden = hidden * 0.5 * (1 + np.vectorize(math.erf)(hidden / math.sqrt(2)))
    expected = h + hidden @ fc2.weight.data.T + fc2.bias.data
    np.testing.assert_allclose(block(mp.tensor(x)).data, expected, atol=1e-6)   # F.erf: see the GELU test
    assert block.preserves_shape()


def test_transformer_block_gradients_by_finite_differences():
    rng = np.random.default_rng(13)
    block = nn.TransformerBlock(4, 2, mlp_ratio=2, rng=np.random.default_rng(0)).double().eval()
    x = t64(rng.standard_normal((1, 3, 4)))
    gradcheck(lambda x: block(x), x, wrt=[x, block.ln1.weight, block.attn.in_proj_weight, block.mlp.fc1.weight])


def test_remove_heads_refuses_a_masked_projection():
    from minprune import prune

    mha = make_mha(embed_dim=8, num_heads=4)
    prune.l1_unstructured(mha, "in_proj_weight", 0.5)
    before = mha.state_dict()
    with pytest.raises(ValueError, match="prune.remove"):
        mha.remove_heads([1])
    assert mha.num_heads == 4
    for key, value in mha.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    prune.remove(mha, "in_proj_weight")
    mha.remove_heads([1])                                                         # fine once the mask is permanent
    assert mha.in_proj_weight.shape == (18, 8)
