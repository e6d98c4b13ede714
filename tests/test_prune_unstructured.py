"""Tests of unstructured pruning (minprune/prune/unstructured.py): exact counts with PyTorch's rounding, the
documented tie rule, composition, random/threshold/global/custom masks, and the seed's §7 and §8 examples.

Every mask is compared with a naive computation written here: Python's ``sorted`` over (|w|, flat index)
pairs, which is obviously right and shares nothing with the library's argpartition-based ``smallest_k``.
Inputs are small integers so that equal magnitudes (ties) are frequent.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import models, nn, prune

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)


class Holder(nn.Module):
    """A module holding one parameter of any shape (1-D to 4-D), to prune tensors Linear cannot make."""

    def __init__(self, values):
        super().__init__()
        self.w = nn.Parameter(np.asarray(values, dtype=np.float32))


def naive_prune_order(values, alive=None):
    """Flat indices of the alive entries, in the order pruning takes them: smallest |v| first, then lower index."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    candidates = range(flat.size) if alive is None else [i for i in range(flat.size) if alive.ravel()[i]]
    return sorted(candidates, key=lambda i: (abs(flat[i]), i))


def naive_count(amount, n):
    return amount if isinstance(amount, int) else round(amount * n)


def naive_l1_mask(values, amount, alive=None):
    """PyTorch's L1Unstructured on the alive entries (all by default), with minprune's tie rule."""
    values = np.asarray(values)
    mask = np.ones(values.size, dtype=np.float32) if alive is None else alive.ravel().astype(np.float32)
    order = naive_prune_order(values, alive)
    for i in order[:naive_count(amount, len(order))]:
        mask[i] = 0
    return mask.reshape(values.shape)


shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)


@st.composite
def tensors_with_ties(draw, shape=None):
    shape = draw(shapes) if shape is None else shape
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return np.random.default_rng(seed).integers(-3, 4, size=shape).astype(np.float32)


@st.composite
def amount_for(draw, n):
    """A float fraction (often one that lands on .5 · n) or an int count in [0, n]."""
    kind = draw(st.sampled_from(["float", "half", "int"]))
    if kind == "int":
        return draw(st.integers(0, n))
    if kind == "half" and n:
        return (draw(st.integers(0, n - 1)) + 0.5) / n  # amount · n lands on a half: the rounding matters
    return draw(st.floats(0.0, 1.0))


# ---------------------------------------------------------------------- the mask helpers (exercise ex03)
@SETTINGS
@given(st.data())
def test_smallest_k_picks_the_k_smallest_with_lower_index_first_among_ties(data):
    scores = data.draw(tensors_with_ties())
    k = data.draw(st.integers(0, scores.size))
    got = prune.smallest_k(np.abs(scores), k)
    assert sorted(got.tolist()) == sorted(naive_prune_order(scores)[:k])


def test_smallest_k_tie_rule_by_hand():
    scores = np.array([2.0, 1.0, 2.0, 1.0, 2.0, 0.5])
    assert sorted(prune.smallest_k(scores, 3).tolist()) == [1, 3, 5]
    assert sorted(prune.smallest_k(scores, 4).tolist()) == [0, 1, 3, 5]   # the first 2.0, not a later one
    assert sorted(prune.smallest_k(scores, 5).tolist()) == [0, 1, 2, 3, 5]
    assert prune.smallest_k(np.ones(7), 2).tolist() == [0, 1]


@SETTINGS
@given(st.data())
def test_magnitude_mask_matches_the_naive_sort(data):
    scores = data.draw(tensors_with_ties())
    amount = data.draw(amount_for(scores.size))
    mask = prune.magnitude_mask(scores, amount)
    assert mask.shape == scores.shape
    np.testing.assert_array_equal(mask, naive_l1_mask(scores, amount))


def test_magnitude_mask_docstring_example_and_default_mask():
    w = np.array([0.2, 0.001, -0.8, 0.0005, 0.9])
    np.testing.assert_array_equal(prune.magnitude_mask(w, 0.4), [1, 0, 1, 0, 1])
    # a non-contiguous default mask is combined, not lost
    default = np.ones((3, 2), dtype=np.float32).T
    np.testing.assert_array_equal(prune.magnitude_mask(np.arange(1.0, 7.0).reshape(2, 3), 2, default),
                                  [[0, 0, 1], [1, 1, 1]])


def test_threshold_mask_seed_example():
    w = np.array([0.2, 0.001, -0.8, 0.0005, 0.9])
    np.testing.assert_array_equal(prune.threshold_mask(w, 0.01), [1, 0, 1, 0, 1])
    np.testing.assert_array_equal(prune.threshold_mask(w, 0.2), [1, 0, 1, 0, 1])  # |w| ≥ threshold is kept


@SETTINGS
@given(st.data())
def test_global_magnitude_threshold_is_the_kth_pooled_magnitude(data):
    weights = [data.draw(tensors_with_ties()) for _ in range(data.draw(st.integers(1, 3)))]
    amount = data.draw(st.floats(0.0, 1.0))
    pooled = sorted(abs(float(v)) for w in weights for v in w.ravel())
    k = round(amount * len(pooled))
    expected = 0.0 if k == 0 else pooled[k - 1]
    assert prune.global_magnitude_threshold(weights, amount) == expected


# ---------------------------------------------------------------------- l1_unstructured
@SETTINGS
@given(st.data())
def test_l1_unstructured_prunes_exactly_round_amount_n_smallest(data):
    values = data.draw(tensors_with_ties())
    amount = data.draw(amount_for(values.size))
    h = Holder(values)
    prune.l1_unstructured(h, "w", amount=amount)
    expected = naive_l1_mask(values, amount)
    assert int((h.w_mask == 0).sum()) == naive_count(amount, values.size)
    np.testing.assert_array_equal(h.w_mask, expected)
    np.testing.assert_array_equal(h.w.data, values * expected)


@SETTINGS
@given(st.data())
def test_l1_composition_prunes_only_among_survivors(data):
    values = data.draw(tensors_with_ties())
    n = values.size
    a1, a2 = data.draw(amount_for(n)), data.draw(st.floats(0.0, 1.0))
    h = Holder(values)
    prune.l1_unstructured(h, "w", amount=a1)
    first = h.w_mask.copy()
    prune.l1_unstructured(h, "w", amount=a2)
    k1 = naive_count(a1, n)
    assert int((h.w_mask == 0).sum()) == k1 + round(a2 * (n - k1))
    expected = naive_l1_mask(values, a2, alive=first == 1)
    np.testing.assert_array_equal(h.w_mask, expected)
    assert np.all(h.w_mask[first == 0] == 0)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 11, 100, 5000])
def test_half_then_half_is_75_percent(n):
    values = np.random.default_rng(n).standard_normal(n)
    h = Holder(values)
    prune.l1_unstructured(h, "w", amount=0.5)
    prune.l1_unstructured(h, "w", amount=0.5)
    first = round(0.5 * n)
    assert int((h.w_mask == 0).sum()) == first + round(0.5 * (n - first))
    # distinct values: the survivors' smallest are the next smallest overall
    np.testing.assert_array_equal(h.w_mask, naive_l1_mask(values, first + round(0.5 * (n - first))))


def test_l1_unstructured_with_importance_scores():
    m = nn.Linear(5, 4, rng=np.random.default_rng(0))
    scores = np.arange(20, dtype=np.float32).reshape(4, 5)[::-1]  # prune the last row first, whatever the weights
    prune.l1_unstructured(m, "weight", amount=5, importance_scores=scores)
    np.testing.assert_array_equal(m.weight_mask, [[1] * 5] * 3 + [[0] * 5])


def test_seed_net_30_percent_of_fc1_then_remove_gives_1500_zeros():
    model = models.SeedNet(rng=np.random.default_rng(0))
    assert model.fc1.weight.shape == (50, 100) and model.fc2.weight.shape == (10, 50)
    assert int((model.fc1.weight.data == 0).sum()) == 0
    w = model.fc1.weight.data.copy()
    prune.l1_unstructured(model.fc1, name="weight", amount=0.3)
    prune.remove(model.fc1, "weight")
    assert isinstance(model.fc1.weight, nn.Parameter)
    assert int((model.fc1.weight.data == 0).sum()) == 1500
    cutoff = np.sort(np.abs(w).ravel())[1499]
    assert np.all(np.abs(w[model.fc1.weight.data == 0]) <= cutoff)
    assert np.all(np.abs(w[model.fc1.weight.data != 0]) >= cutoff)


# ---------------------------------------------------------------------- random_unstructured
@SETTINGS
@given(st.data())
def test_random_unstructured_counts_and_determinism(data):
    values = data.draw(tensors_with_ties())
    a1, a2 = data.draw(amount_for(values.size)), data.draw(st.floats(0.0, 1.0))
    seed = data.draw(st.integers(0, 1000))
    masks = []
    for _ in range(2):
        h = Holder(values)
        prune.random_unstructured(h, "w", amount=a1, rng=np.random.default_rng(seed))
        first = h.w_mask.copy()
        k1 = naive_count(a1, values.size)
        assert int((first == 0).sum()) == k1
        prune.random_unstructured(h, "w", amount=a2, rng=np.random.default_rng(seed + 1))
        assert int((h.w_mask == 0).sum()) == k1 + round(a2 * (values.size - k1))
        assert np.all(h.w_mask[first == 0] == 0)
        masks.append(h.w_mask.copy())
    np.testing.assert_array_equal(masks[0], masks[1])


def test_random_unstructured_uses_the_generator_and_ignores_magnitudes():
    values = np.arange(1.0, 201.0)
    gen = np.random.default_rng(0)
    a, b = Holder(values), Holder(values)
    prune.random_unstructured(a, "w", amount=100, rng=gen)
    prune.random_unstructured(b, "w", amount=100, rng=gen)  # the generator moved on: another draw
    assert not np.array_equal(a.w_mask, b.w_mask)
    # not magnitude pruning: some of the 100 largest entries are pruned
    assert (a.w_mask[100:] == 0).sum() > 20 and (a.w_mask[:100] == 0).sum() > 20


# ---------------------------------------------------------------------- threshold_unstructured
def test_threshold_unstructured_seed_example():
    h = Holder([0.2, 0.001, -0.8, 0.0005, 0.9])
    prune.threshold_unstructured(h, "w", threshold=0.01)
    np.testing.assert_allclose(h.w.data, np.array([0.2, 0, -0.8, 0, 0.9], dtype=np.float32))
    np.testing.assert_array_equal(h.w_mask, [1, 0, 1, 0, 1])


@SETTINGS
@given(st.data())
def test_threshold_unstructured_matches_the_rule_and_keeps_old_zeros(data):
    values = data.draw(tensors_with_ties())
    threshold = data.draw(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 3.5]))
    h = Holder(values)
    prune.l1_unstructured(h, "w", amount=1)
    first = h.w_mask.copy()
    prune.threshold_unstructured(h, "w", threshold=threshold)
    expected = first * np.array([[1.0 if abs(v) >= threshold else 0.0] for v in values.ravel()]).reshape(values.shape)
    np.testing.assert_array_equal(h.w_mask, expected)


def test_threshold_unstructured_errors_leave_the_module_unchanged():
    h = Holder([1.0, 2.0])
    for bad, error in [(-0.1, ValueError), (float("nan"), ValueError), ("0.1", TypeError), (None, TypeError)]:
        with pytest.raises(error):
            prune.threshold_unstructured(h, "w", threshold=bad)
        assert not prune.is_pruned(h) and "w" in h._parameters and not h._buffers


# ---------------------------------------------------------------------- global_unstructured
def naive_global_masks(values_list, amount, alive_list=None):
    """Pool every alive entry of every tensor (in order), prune the smallest |v| (lower pooled index first)."""
    pooled = np.concatenate([np.ravel(v) for v in values_list])
    alive = None if alive_list is None else np.concatenate([np.ravel(a) for a in alive_list]).astype(bool)
    mask = naive_l1_mask(pooled, amount, alive)
    out, start = [], 0
    for v in values_list:
        out.append(mask[start:start + v.size].reshape(v.shape))
        start += v.size
    return out


@SETTINGS
@given(st.data())
def test_global_unstructured_prunes_the_pooled_smallest(data):
    values = [data.draw(tensors_with_ties()) for _ in range(data.draw(st.integers(1, 3)))]
    total = sum(v.size for v in values)
    amount = data.draw(amount_for(total))
    holders = [Holder(v) for v in values]
    prune.global_unstructured([(h, "w") for h in holders], pruning_method=prune.L1Unstructured, amount=amount)
    expected = naive_global_masks(values, amount)
    assert sum(int((h.w_mask == 0).sum()) for h in holders) == naive_count(amount, total)
    for h, e in zip(holders, expected):
        np.testing.assert_array_equal(h.w_mask, e)
        hooks = [x for x in h._forward_pre_hooks.values() if isinstance(x, prune.BasePruningMethod)]
        assert len(hooks) == 1 and isinstance(hooks[0], prune.CustomFromMask)


@SETTINGS
@given(st.data())
def test_global_unstructured_after_local_pruning_counts_the_alive_entries(data):
    values = [data.draw(tensors_with_ties()) for _ in range(2)]
    amount = data.draw(st.floats(0.0, 1.0))
    holders = [Holder(v) for v in values]
    prune.l1_unstructured(holders[0], "w", amount=0.5)
    alive = [holders[0].w_mask == 1, np.ones(values[1].shape, dtype=bool)]
    prune.global_unstructured([(h, "w") for h in holders], pruning_method=prune.L1Unstructured, amount=amount)
    for h, e in zip(holders, naive_global_masks(values, amount, alive)):
        np.testing.assert_array_equal(h.w_mask, e)
    container = [x for x in holders[0]._forward_pre_hooks.values()][0]
    assert isinstance(container, prune.PruningContainer) and isinstance(container[-1], prune.CustomFromMask)


def test_global_unstructured_spares_the_layer_with_large_weights():
    small, large = Holder(np.full(10, 0.1) * np.arange(1, 11)), Holder(np.arange(11.0, 21.0))
    prune.global_unstructured([(small, "w"), (large, "w")], prune.L1Unstructured, amount=0.5)
    assert np.all(small.w_mask == 0) and np.all(large.w_mask == 1)


def test_global_unstructured_importance_scores_and_random():
    a, b = Holder([1.0, 2.0, 3.0]), Holder([4.0, 5.0, 6.0])
    scores = {(b, "w"): np.array([0.0, 0.0, 9.0])}  # b's first two entries look unimportant
    prune.global_unstructured([(a, "w"), (b, "w")], prune.L1Unstructured, importance_scores=scores, amount=2)
    np.testing.assert_array_equal(a.w_mask, [1, 1, 1])
    np.testing.assert_array_equal(b.w_mask, [0, 0, 1])
    c, d = Holder(np.ones(50)), Holder(np.ones(50))
    prune.global_unstructured([(c, "w"), (d, "w")], prune.RandomUnstructured, amount=0.3,
                              rng=np.random.default_rng(0))
    assert int((c.w_mask == 0).sum() + (d.w_mask == 0).sum()) == 30


@pytest.mark.parametrize("call, error", [
    (lambda a, b: prune.global_unstructured(5, prune.L1Unstructured, amount=1), TypeError),
    (lambda a, b: prune.global_unstructured([(a, "w")], prune.LnStructured, amount=1, n=1, dim=0), TypeError),
    (lambda a, b: prune.global_unstructured([(a, "w")], prune.CustomFromMask, mask=np.ones(3)), TypeError),
    (lambda a, b: prune.global_unstructured([(a, "w"), (b, "w")], prune.L1Unstructured,
                                            importance_scores=[1], amount=1), TypeError),
    (lambda a, b: prune.global_unstructured([(a, "w"), (b, "w")], prune.L1Unstructured, amount="1"), TypeError),
    (lambda a, b: prune.global_unstructured([(a, "w"), (b, "w")], prune.L1Unstructured, amount=7), ValueError),
    (lambda a, b: prune.global_unstructured([(a, "w"), (b, "w")], prune.L1Unstructured, amount=1.5), ValueError),
    (lambda a, b: prune.global_unstructured([(a, "w"), (b, "w")], prune.L1Unstructured,
                                            importance_scores={(b, "w"): np.ones(2)}, amount=1), ValueError),
    (lambda a, b: prune.global_unstructured([(a, "w"), (b, "nope")], prune.L1Unstructured, amount=1),
     AttributeError),
], ids=["not-iterable", "structured-method", "global-method", "scores-not-dict", "amount-type", "amount-too-big",
        "amount-over-1", "scores-shape", "unknown-name"])
def test_global_unstructured_errors_change_nothing(call, error):
    a, b = Holder([1.0, 2.0, 3.0]), Holder([4.0, 5.0, 6.0])
    with pytest.raises(error):
        call(a, b)
    for h, v in ((a, [1, 2, 3]), (b, [4, 5, 6])):
        assert not prune.is_pruned(h) and not h._buffers and list(h._parameters) == ["w"]
        np.testing.assert_array_equal(h.w.data, v)
