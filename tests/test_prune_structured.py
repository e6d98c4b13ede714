"""Tests of structured pruning (minprune/prune/structured.py): Ln-structured and random channels on every dim,
composition over the channels still alive, global structured pruning and its normalisation, the seed-like
helpers (neurons, filters, channels) and ``prune_model``.

Channel norms are recomputed here one channel at a time in Python floats; the channels to prune are chosen by
``sorted`` over (norm, channel index) — the documented tie rule — so nothing is shared with the library.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import models, nn, prune

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)
INF = float("inf")


class Holder(nn.Module):
    def __init__(self, values):
        super().__init__()
        self.w = nn.Parameter(np.asarray(values, dtype=np.float32))


def naive_norm(values, n):
    flat = [abs(float(v)) for v in np.ravel(values)]
    if n == INF:
        return max(flat, default=0.0)
    return sum(v ** n for v in flat) ** (1.0 / n)


def naive_channel_norms(w, n, dim):
    return [naive_norm(np.take(w, c, axis=dim), n) for c in range(w.shape[dim])]


def naive_count(amount, n):
    return amount if isinstance(amount, int) else round(amount * n)


def channel_mask(shape, dim, keep):
    """A 0/1 array of ``shape`` that is keep[c] on channel c along ``dim``."""
    view = [1] * len(shape)
    view[dim] = -1
    return np.broadcast_to(np.asarray(keep, dtype=np.float32).reshape(view), shape)


def naive_ln_mask(w, amount, n, dim, prior=None):
    """Prune the round(amount · C_alive) alive channels of smallest norm (of w ⊙ prior), lower index first."""
    prior = np.ones(w.shape, dtype=np.float32) if prior is None else prior
    effective = w * prior
    dim = dim % w.ndim
    alive = [c for c in range(w.shape[dim]) if np.take(prior, c, axis=dim).any()]
    norms = naive_channel_norms(effective, n, dim)
    order = sorted(alive, key=lambda c: (norms[c], c))
    keep = np.ones(w.shape[dim])
    keep[order[:naive_count(amount, len(alive))]] = 0
    return prior * channel_mask(w.shape, dim, keep)


def pruned_channels(mask, dim):
    dim = dim % mask.ndim
    return [c for c in range(mask.shape[dim]) if not np.take(mask, c, axis=dim).any()]


@st.composite
def structured_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=2, max_size=4)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    values = np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float32)
    channels = shape[dim]
    amount = draw(st.one_of(st.floats(0.0, 1.0), st.integers(0, channels),
                            st.integers(0, channels - 1).map(lambda j: (j + 0.5) / channels)))
    n = draw(st.sampled_from([1, 2, INF]))
    return values, amount, n, dim


# ---------------------------------------------------------------------- ln_structured
@SETTINGS
@given(structured_case())
def test_ln_structured_matches_naive_channel_norms(case):
    values, amount, n, dim = case
    h = Holder(values)
    prune.ln_structured(h, "w", amount=amount, n=n, dim=dim)
    expected = naive_ln_mask(values, amount, n, dim)
    np.testing.assert_array_equal(h.w_mask, expected)
    assert len(pruned_channels(h.w_mask, dim)) == naive_count(amount, values.shape[dim])


@SETTINGS
@given(structured_case(), st.floats(0.0, 1.0), st.booleans())
def test_ln_structured_composition_counts_only_alive_channels(case, second, same_dim):
    values, amount, n, dim = case
    h = Holder(values)
    prune.ln_structured(h, "w", amount=amount, n=n, dim=dim)
    first = h.w_mask.copy()
    dim2 = dim if same_dim else (dim + 1) % values.ndim
    prune.ln_structured(h, "w", amount=second, n=n, dim=dim2)
    np.testing.assert_array_equal(h.w_mask, naive_ln_mask(values, second, n, dim2, prior=first))
    if same_dim:
        k1 = naive_count(amount, values.shape[dim])
        assert len(pruned_channels(h.w_mask, dim)) == k1 + round(second * (values.shape[dim] - k1))


@pytest.mark.parametrize("n", [1, 2, INF])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("layer", ["linear", "conv"])
def test_ln_structured_on_linear_and_conv_weights(n, dim, layer):
    rng = np.random.default_rng(11)
    m = nn.Linear(12, 8, rng=rng) if layer == "linear" else nn.Conv2d(6, 10, 3, rng=rng)
    w = m.weight.data.copy()
    prune.ln_structured(m, "weight", amount=0.4, n=n, dim=dim)
    expected = naive_ln_mask(w, 0.4, n, dim)
    np.testing.assert_array_equal(m.weight_mask, expected)
    np.testing.assert_array_equal(m.weight.data, w * expected)
    norms = naive_channel_norms(w, n, dim)
    gone = pruned_channels(m.weight_mask, dim)
    assert len(gone) == round(0.4 * w.shape[dim % w.ndim])
    assert max(norms[c] for c in gone) <= min(norms[c] for c in range(len(norms)) if c not in gone)
    assert "bias_mask" not in m._buffers  # ln_structured touches only the named parameter


def test_ln_structured_docstring_example_and_ties():
    t = np.array([[3.0, 4.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(prune.ln_structured_mask(t, 1 / 3, 2, 0), [[1, 1], [0, 0], [1, 1]])
    tied = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0], [5.0, 5.0]])  # L1 norms 2, 2, 2, 10
    np.testing.assert_array_equal(prune.ln_structured_mask(tied, 2, 1, 0)[:, 0], [0, 0, 1, 1])
    np.testing.assert_array_equal(prune.channel_norms(tied, 1, 0), [2, 2, 2, 10])
    np.testing.assert_allclose(prune.channel_norms(tied, 2, 1), [math.sqrt(30), math.sqrt(30)], rtol=1e-6)
    np.testing.assert_array_equal(prune.channel_norms(tied, INF, 0), [1, 2, 2, 5])


def test_ln_structured_after_unstructured_ignores_fully_pruned_channels():
    h = Holder(np.arange(1.0, 13.0).reshape(4, 3))
    mask = np.ones((4, 3))
    mask[2] = 0  # row 2 is already gone entirely; row 0 partly
    mask[0, 1] = 0
    prune.custom_from_mask(h, "w", mask)
    prune.ln_structured(h, "w", amount=1 / 3, n=1, dim=0)  # 3 alive rows → round(1) = 1 more
    # effective L1 norms of the alive rows: row 0 = 1 + 3 = 4, row 1 = 15, row 3 = 33 → row 0 goes
    np.testing.assert_array_equal(h.w_mask, [[0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match="3"):
        prune.ln_structured(h, "w", amount=3, n=1, dim=0)  # only 2 rows alive


def test_ln_structured_importance_scores_choose_the_channels():
    m = nn.Linear(4, 5, rng=np.random.default_rng(0))
    scores = np.repeat(np.array([5.0, 1.0, 4.0, 2.0, 3.0])[:, None], 4, axis=1)
    prune.ln_structured(m, "weight", amount=2, n=1, dim=0, importance_scores=scores)
    np.testing.assert_array_equal(m.weight_mask[:, 0], [1, 0, 1, 0, 1])


def test_ln_structured_bad_norm_order_changes_nothing():
    h = Holder(np.ones((3, 3)))
    with pytest.raises(ValueError, match="-1"):
        prune.ln_structured(h, "w", amount=1, n=-1, dim=0)
    assert not prune.is_pruned(h) and not h._buffers


# ---------------------------------------------------------------------- random_structured
@SETTINGS
@given(structured_case(), st.integers(0, 1000))
def test_random_structured_prunes_whole_channels_deterministically(case, seed):
    values, amount, _, dim = case
    masks = []
    for _ in range(2):
        h = Holder(values)
        prune.random_structured(h, "w", amount=amount, dim=dim, rng=np.random.default_rng(seed))
        gone = pruned_channels(h.w_mask, dim)
        assert len(gone) == naive_count(amount, values.shape[dim])
        keep = [0.0 if c in gone else 1.0 for c in range(values.shape[dim])]
        np.testing.assert_array_equal(h.w_mask, channel_mask(values.shape, dim % values.ndim, keep))
        masks.append(h.w_mask.copy())
    np.testing.assert_array_equal(masks[0], masks[1])


def test_random_structured_composes_and_ignores_norms():
    values = np.repeat(np.arange(1.0, 41.0)[:, None], 3, axis=1)  # row norms increase with the index
    h = Holder(values)
    prune.random_structured(h, "w", amount=0.5, dim=0, rng=np.random.default_rng(0))
    gone = pruned_channels(h.w_mask, 0)
    assert len(gone) == 20 and max(gone) >= 30  # not the 20 smallest rows
    prune.random_structured(h, "w", amount=0.5, dim=0, rng=np.random.default_rng(1))
    assert len(pruned_channels(h.w_mask, 0)) == 30 and set(gone) <= set(pruned_channels(h.w_mask, 0))


# ---------------------------------------------------------------------- global_structured
def naive_global_structured(weights, amount, n, dim, normalize, priors=None):
    """Pool the alive channels of every layer, scaled per layer; each layer's best alive channel is exempt."""
    candidates, total_alive, per_layer = [], 0, []
    for li, w in enumerate(weights):
        prior = np.ones(w.shape) if priors is None else priors[li]
        d = dim % w.ndim
        alive = [c for c in range(w.shape[d]) if np.take(prior, c, axis=d).any()]
        norms = naive_channel_norms(w * prior, n, d)
        positive = [norms[c] for c in alive if norms[c] > 0]
        scale = 1.0
        if normalize == "mean" and positive:
            scale = sum(positive) / len(positive)
        elif normalize == "max" and positive:
            scale = max(positive)
        scaled = {c: norms[c] / scale for c in alive}
        if alive:
            best = max(alive, key=lambda c: (scaled[c], -c))  # the first channel with the largest score
            candidates += [(scaled[c], li, c) for c in alive if c != best]
        total_alive += len(alive)
        per_layer.append((prior, d))
    offsets = np.cumsum([0] + [w.shape[dim % w.ndim] for w in weights])
    candidates.sort(key=lambda t: (t[0], offsets[t[1]] + t[2]))
    k = min(naive_count(amount, total_alive), len(candidates))
    drop = {(li, c) for _, li, c in candidates[:k]}
    masks = []
    for li, (w, (prior, d)) in enumerate(zip(weights, per_layer)):
        keep = [0.0 if (li, c) in drop else 1.0 for c in range(w.shape[d])]
        masks.append(prior * channel_mask(w.shape, d, keep))
    return masks


@SETTINGS
@given(st.data())
def test_global_structured_none_and_max_match_the_naive_pooled_ranking(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    layers = data.draw(st.integers(1, 3))
    weights = [rng.integers(-3, 4, size=(data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))))
               .astype(np.float32) for _ in range(layers)]
    total = sum(w.shape[0] for w in weights)
    amount = data.draw(st.one_of(st.floats(0.0, 1.0), st.integers(0, total)))
    n = data.draw(st.sampled_from([1, INF]))
    normalize = data.draw(st.sampled_from(["none", "max"]))
    holders = [Holder(w) for w in weights]
    prune.global_structured([(h, "w") for h in holders], amount, n=n, dim=0, normalize=normalize)
    for h, expected in zip(holders, naive_global_structured(weights, amount, n, 0, normalize)):
        np.testing.assert_array_equal(h.w_mask, expected)
        assert h.w_mask.shape[0] == 0 or len(pruned_channels(h.w_mask, 0)) < h.w_mask.shape[0]


def test_global_structured_none_ranks_raw_norms_and_mean_normalises_per_layer():
    small = Holder(np.array([[0.1], [0.2], [0.3], [0.4]]))       # a layer with small weights
    large = Holder(np.array([[10.0], [20.0], [30.0], [40.0]]))   # and one with large weights
    prune.global_structured([(small, "w"), (large, "w")], 3, n=1, dim=0, normalize="none")
    assert pruned_channels(small.w_mask, 0) == [0, 1, 2]  # raw norms empty the small layer (but its best stays)
    assert pruned_channels(large.w_mask, 0) == []

    # exactly representable, so that the normalised norms tie exactly
    small, large = Holder(np.array([[0.125], [0.25], [0.375], [0.5]])), Holder(np.array([[8.0], [16], [24], [32]]))
    prune.global_structured([(small, "w"), (large, "w")], 3, n=1, dim=0, normalize="mean")
    # divided by the layer mean both are [0.4, 0.8, 1.2, 1.6]: ties go to the lower pooled index
    assert pruned_channels(small.w_mask, 0) == [0, 1] and pruned_channels(large.w_mask, 0) == [0]

    rng = np.random.default_rng(4)
    weights = [rng.standard_normal((8, 5)).astype(np.float32) * s for s in (0.01, 1.0, 100.0)]
    holders = [Holder(w) for w in weights]
    prune.global_structured([(h, "w") for h in holders], 0.5, n=2, dim=0, normalize="mean")
    for h, expected in zip(holders, naive_global_structured(weights, 0.5, 2, 0, "mean")):
        np.testing.assert_array_equal(h.w_mask, expected)
    assert sum(len(pruned_channels(h.w_mask, 0)) for h in holders) == 12
    assert all(len(pruned_channels(h.w_mask, 0)) >= 2 for h in holders)  # scale-free: every layer loses some


def test_global_structured_keeps_one_channel_per_layer_and_composes():
    rng = np.random.default_rng(5)
    weights = [rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)]
    holders = [Holder(w) for w in weights]
    pairs = [(h, "w") for h in holders]
    prune.global_structured(pairs, 0.3, n=2, dim=0)  # round(0.3 · 10) = 3
    first = [h.w_mask.copy() for h in holders]
    assert sum(len(pruned_channels(m, 0)) for m in first) == 3
    prune.global_structured(pairs, 0.5, n=2, dim=0)  # round(0.5 · 7 alive) = 4 more
    for h, expected in zip(holders, naive_global_structured(weights, 0.5, 2, 0, "mean", priors=first)):
        np.testing.assert_array_equal(h.w_mask, expected)
    assert sum(len(pruned_channels(h.w_mask, 0)) for h in holders) == 7
    prune.global_structured(pairs, 1.0, n=2, dim=0)
    assert [len(pruned_channels(h.w_mask, 0)) for h in holders] == [5, 3]  # each keeps its best channel


def test_global_structured_with_importance_scores_and_conv_dim_1():
    rng = np.random.default_rng(6)
    convs = [nn.Conv2d(4, 6, 3, rng=rng), nn.Conv2d(6, 5, 3, rng=rng)]
    weights = [c.weight.data.copy() for c in convs]
    prune.global_structured([(c, "weight") for c in convs], 0.4, n=1, dim=1)
    for c, expected in zip(convs, naive_global_structured(weights, 0.4, 1, 1, "mean")):
        np.testing.assert_array_equal(c.weight_mask, expected)
    a, b = Holder(np.ones((3, 2))), Holder(np.ones((3, 2)))
    scores = {(a, "w"): np.array([[3.0, 3], [1, 1], [2, 2]]), (b, "w"): np.array([[1.0, 1], [1, 1], [9, 9]])}
    prune.global_structured([(a, "w"), (b, "w")], 2, n=1, dim=0, importance_scores=scores, normalize="none")
    assert pruned_channels(a.w_mask, 0) == [1] and pruned_channels(b.w_mask, 0) == [0]


@pytest.mark.parametrize("kwargs, error", [
    ({"amount": 0.5, "normalize": "median"}, ValueError),
    ({"amount": "half"}, TypeError),
    ({"amount": -1}, ValueError),
    ({"amount": 100}, ValueError),
    ({"amount": 0.5, "dim": 2}, IndexError),
    ({"amount": 0.5, "extra_bias": True}, ValueError),
    ({"amount": 0.5, "scores": True}, ValueError),
], ids=["normalize", "amount-type", "amount-negative", "amount-too-big", "dim", "1-d", "scores-shape"])
def test_global_structured_errors_change_nothing(kwargs, error):
    a, b = nn.Linear(3, 4, rng=np.random.default_rng(0)), nn.Linear(4, 2, rng=np.random.default_rng(1))
    pairs = [(a, "weight"), (b, "weight")]
    if kwargs.pop("extra_bias", False):
        pairs.append((b, "bias"))
    if kwargs.pop("scores", False):
        kwargs["importance_scores"] = {(b, "weight"): np.ones((4, 2))}
    before = [m.state_dict() for m in (a, b)]
    with pytest.raises(error):
        prune.global_structured(pairs, **kwargs)
    for m, state in zip((a, b), before):
        assert not prune.is_pruned(m) and list(m.state_dict()) == list(state)


# ---------------------------------------------------------------------- neurons, filters, channels
def test_prune_neurons_removes_rows_and_their_biases():
    rng = np.random.default_rng(8)
    fc = nn.Linear(10, 8, rng=rng)
    w = fc.weight.data.copy()
    prune.prune_neurons(fc, 0.25)  # default criterion: L2 norm of the row
    norms = [math.sqrt(sum(float(v) ** 2 for v in row)) for row in w]
    gone = sorted(sorted(range(8), key=lambda r: (norms[r], r))[:2])
    assert pruned_channels(fc.weight_mask, 0) == gone
    np.testing.assert_array_equal(fc.bias_mask, [0.0 if r in gone else 1.0 for r in range(8)])
    x = rng.standard_normal((3, 10)).astype(np.float32)
    assert np.all(fc(x).data[:, gone] == 0)  # a removed neuron outputs exactly 0
    prune.prune_neurons(fc, 0.5)  # again: half of the 6 alive rows, and their biases
    gone2 = pruned_channels(fc.weight_mask, 0)
    assert len(gone2) == 5 and set(gone) <= set(gone2)
    np.testing.assert_array_equal(fc.bias_mask, [0.0 if r in gone2 else 1.0 for r in range(8)])


@pytest.mark.parametrize("criterion, n", [("l1", 1), ("l2", 2), ("linf", INF)])
def test_prune_neurons_criteria(criterion, n):
    fc = nn.Linear(6, 7, rng=np.random.default_rng(9))
    w = fc.weight.data.copy()
    prune.prune_neurons(fc, 3, criterion=criterion, prune_bias=False)
    np.testing.assert_array_equal(fc.weight_mask, naive_ln_mask(w, 3, n, 0))
    assert "bias_mask" not in fc._buffers


def test_prune_neurons_random_and_scores_and_errors():
    fc = nn.Linear(6, 10, rng=np.random.default_rng(9))
    prune.prune_neurons(fc, 0.3, criterion="random", rng=np.random.default_rng(0))
    assert len(pruned_channels(fc.weight_mask, 0)) == 3
    np.testing.assert_array_equal(fc.bias_mask, channel_mask((10,), 0, fc.weight_mask[:, 0] != 0))
    fc = nn.Linear(3, 4, rng=np.random.default_rng(9))
    scores = np.repeat(np.array([[4.0], [1.0], [3.0], [2.0]]), 3, axis=1)
    prune.prune_neurons(fc, 2, criterion=scores)
    assert pruned_channels(fc.weight_mask, 0) == [1, 3]
    prune.prune_neurons(fc, 1, criterion={(fc, "weight"): scores})
    assert pruned_channels(fc.weight_mask, 0) == [1, 2, 3]
    fresh = nn.Linear(3, 4, rng=np.random.default_rng(9))
    with pytest.raises(ValueError, match="l3"):
        prune.prune_neurons(fresh, 0.5, criterion="l3")
    with pytest.raises(TypeError, match="Linear"):
        prune.prune_neurons(nn.Conv2d(1, 2, 3), 0.5)
    with pytest.raises(ValueError):
        prune.prune_neurons(fresh, 5)
    assert not prune.is_pruned(fresh)


def test_prune_filters_and_prune_channels():
    rng = np.random.default_rng(10)
    conv = nn.Conv2d(4, 8, 3, rng=rng)
    w = conv.weight.data.copy()
    prune.prune_filters(conv, 0.5)  # default L1 (Li et al. 2017)
    np.testing.assert_array_equal(conv.weight_mask, naive_ln_mask(w, 0.5, 1, 0))
    gone = pruned_channels(conv.weight_mask, 0)
    np.testing.assert_array_equal(conv.bias_mask, [0.0 if c in gone else 1.0 for c in range(8)])
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    assert np.all(conv(x).data[:, gone] == 0)

    conv = nn.Conv2d(6, 3, 3, rng=rng)
    w = conv.weight.data.copy()
    prune.prune_channels(conv, 2)
    np.testing.assert_array_equal(conv.weight_mask, naive_ln_mask(w, 2, 1, 1))
    assert len(pruned_channels(conv.weight_mask, 1)) == 2 and "bias_mask" not in conv._buffers
    with pytest.raises(TypeError):
        prune.prune_filters(nn.Linear(2, 2), 0.5)
    with pytest.raises(TypeError):
        prune.prune_channels(nn.Linear(2, 2), 0.5)


# ---------------------------------------------------------------------- prune_model
def zeros(module):
    return int((module.weight.data == 0).sum())


def test_prune_model_local_every_layer_loses_its_share():
    model = models.LeNet300_100(rng=np.random.default_rng(0))
    prune.prune_model(model, 0.8)
    for name, size in (("fc1", 235200), ("fc2", 30000), ("fc3", 1000)):
        assert zeros(getattr(model, name)) == round(0.8 * size)
    assert not prune.is_pruned(model.flatten)


def test_prune_model_per_layer_amounts_and_unknown_keys():
    model = models.LeNet300_100(rng=np.random.default_rng(0))
    w1 = model.fc1.weight.data.copy()
    prune.prune_model(model, {"fc1.weight": 0.5, "fc3.weight": 3})
    assert zeros(model.fc1) == 117600 and zeros(model.fc3) == 3 and not prune.is_pruned(model.fc2)
    assert np.abs(w1[model.fc1.weight_mask == 0]).max() <= np.abs(w1[model.fc1.weight_mask == 1]).min()

    fresh = models.SeedNet(rng=np.random.default_rng(1))
    before = fresh.state_dict()
    with pytest.raises(KeyError, match="fc9.weight"):
        prune.prune_model(fresh, {"fc1.weight": 0.5, "fc9.weight": 0.5})
    assert not prune.is_pruned(fresh) and list(fresh.state_dict()) == list(before)


@pytest.mark.parametrize("kwargs, error", [
    ({"amount": {"fc1.weight": 0.5, "fc2.weight": 1.5}}, ValueError),
    ({"amount": {"fc1.weight": 0.5, "fc2.weight": "x"}}, TypeError),
    ({"amount": {"fc1.weight": 0.5, "fc2.weight": 501}}, ValueError),
    ({"amount": {"fc1.weight": 0.5}, "scope": "global"}, ValueError),
    ({"amount": 0.5, "method": "l3"}, ValueError),
    ({"amount": 0.5, "scope": "everywhere"}, ValueError),
    ({"amount": 0.5, "method": "random_structured", "scope": "global"}, ValueError),
    ({"amount": 6000, "scope": "global"}, ValueError),
    ({"amount": 1, "method": "ln", "dim": 2}, IndexError),
    ({"amount": 0.5, "method": "ln", "scope": "global", "normalize": "sum"}, ValueError),
], ids=["over-1", "type", "int-too-big", "dict-global", "method", "scope", "random-structured-global",
        "global-int-too-big", "dim", "normalize"])
def test_prune_model_errors_leave_the_model_unchanged(kwargs, error):
    model = models.SeedNet(rng=np.random.default_rng(2))
    before = model.state_dict()
    with pytest.raises(error):
        prune.prune_model(model, **kwargs)
    assert not prune.is_pruned(model)
    for key, value in before.items():
        np.testing.assert_array_equal(model.state_dict()[key], value)


def test_prune_model_second_round_is_checked_against_what_is_alive():
    model = models.SeedNet(rng=np.random.default_rng(3))
    prune.prune_model(model, 400)
    masks = {k: v.copy() for k, v in model.state_dict().items() if k.endswith("_mask")}
    with pytest.raises(ValueError, match="200"):  # fc2 has 100 entries left, fc1 4600: fail before fc1 changes
        prune.prune_model(model, 200)
    for key, value in masks.items():
        np.testing.assert_array_equal(model.state_dict()[key], value)
    prune.prune_model(model, 100)
    assert zeros(model.fc1) == 500 and zeros(model.fc2) == 500


def test_prune_model_global_l1_is_the_pooled_ranking():
    model = models.SeedNet(rng=np.random.default_rng(4))
    pooled = np.concatenate([model.fc1.weight.data.ravel(), model.fc2.weight.data.ravel()])
    prune.prune_model(model, 0.9, scope="global")
    order = np.lexsort((np.arange(pooled.size), np.abs(pooled)))  # |w| first, then index
    expected = np.ones(pooled.size)
    expected[order[:round(0.9 * pooled.size)]] = 0
    got = np.concatenate([model.fc1.weight_mask.ravel(), model.fc2.weight_mask.ravel()])
    np.testing.assert_array_equal(got, expected)
    assert zeros(model.fc1) / 5000 > zeros(model.fc2) / 500  # the big layer loses more

    model = models.SeedNet(rng=np.random.default_rng(4))
    prune.prune_model(model, 1000, scope="global")  # an int is a count of the pooled 5 500 weights
    assert zeros(model.fc1) + zeros(model.fc2) == 1000


def test_prune_model_structured_local_and_global():
    model = models.LeNet5(rng=np.random.default_rng(5))
    weights = {n: getattr(model, n).weight.data.copy() for n in ("conv1", "conv2", "fc1", "fc2", "fc3")}
    prune.prune_model(model, 0.5, method="ln", n=1)
    for name in ("conv1", "conv2", "fc1", "fc2"):
        np.testing.assert_array_equal(getattr(model, name).weight_mask, naive_ln_mask(weights[name], 0.5, 1, 0))
    assert not prune.is_pruned(model.fc3)  # the classes all stay

    model = models.LeNet5(rng=np.random.default_rng(5))
    prune.prune_model(model, 0.5, method="ln", scope="global", n=2)
    names = ("conv1", "conv2", "fc1", "fc2")
    expected = naive_global_structured([weights[n] for n in names], 0.5, 2, 0, "mean")
    for name, mask in zip(names, expected):
        np.testing.assert_array_equal(getattr(model, name).weight_mask, mask)

    model = models.LeNet5(rng=np.random.default_rng(5))
    prune.prune_model(model, {"conv2.weight": 4}, method="random_structured", rng=np.random.default_rng(0))
    assert len(pruned_channels(model.conv2.weight_mask, 0)) == 4 and not prune.is_pruned(model.conv1)
