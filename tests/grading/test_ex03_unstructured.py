"""Grader for exercise 03 (lesson 03, what pruning is): PyTorch's rounding, magnitude and threshold masks, and a
global magnitude threshold.

Every expected value is computed here independently: by hand for the small cases, and by a naive
sort-and-count for the random ones (`np.argsort(..., kind="stable")`, which breaks ties by index as required).
"""
import numbers

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ex03

SEED_WEIGHTS = [0.2, 0.001, -0.8, 0.0005, 0.9]  # the seed's §7 example


def naive_magnitude_mask(scores, k):
    """Ones, with the k smallest |scores| zeroed; among equal |scores| the lower flat index goes first."""
    flat = np.abs(np.ravel(scores))
    order = np.argsort(flat, kind="stable")
    mask = np.ones(flat.size, dtype=np.float32)
    mask[order[:k]] = 0
    return mask.reshape(np.shape(scores))


# ---------------------------------------------------------------------------------------------- 03.1 nparams_to_prune
@pytest.mark.parametrize("amount, size, expected", [
    (0.3, 10, 3),      # 0.3 * 10 = 3.0000000000000004: a ceiling gives 4
    (0.25, 10, 2),     # 2.5 rounds half to even -> 2 (round-half-up gives 3)
    (0.5, 5, 2),       # 2.5 -> 2 again
    (0.75, 10, 8),     # 7.5 -> 8 (half to even goes up here)
    (0.35, 10, 4),     # 0.35 * 10 = 3.5000000000000004 in floating point: round -> 4, int()/floor -> 3
    (0.29, 10, 3),     # 2.9 -> 3: int() truncates to 2
    (0.0, 7, 0),
    (1.0, 7, 7),
    (0.5, 0, 0),       # an empty tensor
])
def test_nparams_to_prune_fraction_uses_pythons_round(impl, amount, size, expected):
    got = impl.nparams_to_prune(amount, size)
    assert got == expected, f"nparams_to_prune({amount}, {size}) = {got}; expected round({amount} * {size}) = " \
                            f"{expected} (Python's round: halves to even, and 0.35 * 10 is 3.5000000000000004)"
    assert isinstance(got, numbers.Integral), f"return an int, not {type(got).__name__}"


@pytest.mark.parametrize("amount, size", [(3, 10), (1, 10), (0, 10), (10, 10), (np.int64(4), 9)])
def test_nparams_to_prune_int_is_a_count(impl, amount, size):
    got = impl.nparams_to_prune(amount, size)
    assert got == amount, f"an int amount is a count of entries: nparams_to_prune({amount!r}, {size}) should be " \
                          f"{amount}, got {got} (1 means one entry, 1.0 means all of them)"
    assert isinstance(got, numbers.Integral)


@pytest.mark.parametrize("amount, size", [(11, 10), (1, 0), (np.int64(6), 5)])
def test_nparams_to_prune_count_larger_than_size_raises(impl, amount, size):
    with pytest.raises(ValueError):
        impl.nparams_to_prune(amount, size)


# ---------------------------------------------------------------------------------------------- 03.2 magnitude_mask
def test_magnitude_mask_docstring_example(impl):
    mask = impl.magnitude_mask(np.array(SEED_WEIGHTS), 0.4)
    np.testing.assert_array_equal(mask, [1, 0, 1, 0, 1])


def test_magnitude_mask_uses_absolute_value(impl):
    # the most negative weight is the *largest* in magnitude: it must survive
    mask = impl.magnitude_mask(np.array([-5.0, 1.0, 2.0, -0.1, 3.0]), 2)
    np.testing.assert_array_equal(mask, [1, 0, 1, 0, 1])


def test_magnitude_mask_returns_float_mask_of_the_shape(impl):
    scores = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5
    mask = impl.magnitude_mask(scores, 4)
    assert isinstance(mask, np.ndarray) and mask.shape == (3, 4), "the mask has the scores' shape"
    assert mask.dtype == np.float32, f"a float32 0/1 mask (it multiplies the weight), got dtype {mask.dtype}"
    np.testing.assert_array_equal(mask, naive_magnitude_mask(scores, 4))


@pytest.mark.parametrize("amount, pruned", [(0.25, 2), (0.35, 4), (0.5, 5), (0, 0), (0.0, 0), (1.0, 10), (10, 10)])
def test_magnitude_mask_prunes_round_amount_entries(impl, amount, pruned):
    scores = np.array([0.5, -0.3, 0.9, 0.1, -0.7, 0.2, 0.8, -0.4, 0.6, 0.05])
    mask = impl.magnitude_mask(scores, amount)
    assert int((mask == 0).sum()) == pruned, f"amount={amount!r} of 10 entries prunes {pruned}"
    np.testing.assert_array_equal(mask, naive_magnitude_mask(scores, pruned))


@pytest.mark.parametrize("scores, amount, expected", [
    ([1.0, 1.0, 1.0, 1.0], 2, [0, 0, 1, 1]),
    ([3.0, 1.0, 2.0, 1.0, 1.0], 2, [1, 0, 1, 0, 1]),   # a tie at the cut: the lower index goes
    ([-1.0, 1.0, 2.0], 1, [0, 1, 1]),                   # |-1| == |1|: a tie, index 0 goes
    ([[0.5, 0.1], [0.1, 0.5]], 1, [[1, 0], [1, 1]]),    # flat (row-major) index decides
])
def test_magnitude_mask_ties_prune_lower_index_first(impl, scores, amount, expected):
    np.testing.assert_array_equal(impl.magnitude_mask(np.array(scores), amount), expected)


def test_magnitude_mask_combines_with_default_mask(impl):
    default = np.array([1, 0, 1, 1], dtype=np.float32)
    before = default.copy()
    mask = impl.magnitude_mask(np.array([4.0, 3.0, 2.0, 1.0]), 1, default_mask=default)
    np.testing.assert_array_equal(mask, [1, 0, 1, 0], err_msg="entries pruned before stay pruned (default_mask)")
    np.testing.assert_array_equal(default, before, err_msg="default_mask must not be modified in place")


def test_magnitude_mask_keeps_default_mask_dtype(impl):
    default = np.ones((2, 3), dtype=np.float64)
    mask = impl.magnitude_mask(np.array([[3.0, 1.0, 2.0], [6.0, 5.0, 4.0]]), 2, default_mask=default)
    assert mask.dtype == np.float64, "the result is default_mask with entries set to 0: same dtype"
    np.testing.assert_array_equal(mask, [[1, 0, 0], [1, 1, 1]])


def test_magnitude_mask_does_not_modify_scores(impl):
    scores = np.array([0.3, -0.2, 0.1])
    impl.magnitude_mask(scores, 2)
    np.testing.assert_array_equal(scores, [0.3, -0.2, 0.1])


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), amount=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_magnitude_mask_matches_a_naive_sort(impl, shape, amount, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(-4, 5, size=shape).astype(np.float64)  # small integers: many ties, of both signs
    mask = impl.magnitude_mask(scores, amount)
    np.testing.assert_array_equal(mask, naive_magnitude_mask(scores, round(amount * scores.size)))


# ---------------------------------------------------------------------------------------------- 03.3 threshold_mask
def test_threshold_mask_seed_example(impl):
    mask = impl.threshold_mask(np.array(SEED_WEIGHTS), 0.01)
    np.testing.assert_array_equal(mask, [1, 0, 1, 0, 1])
    assert mask.dtype == np.float32, f"a float32 0/1 mask, got dtype {mask.dtype}"


def test_threshold_mask_keeps_weights_equal_to_threshold(impl):
    # |w| >= threshold is kept: 0.5 and -0.5 sit exactly on the threshold (exact in binary floating point)
    np.testing.assert_array_equal(impl.threshold_mask(np.array([0.5, -0.5, 0.25, 0.75]), 0.5), [1, 1, 0, 1])


def test_threshold_mask_compares_magnitudes(impl):
    np.testing.assert_array_equal(impl.threshold_mask(np.array([-3.0, -0.01, 0.01, 3.0]), 1.0), [1, 0, 0, 1])


def test_threshold_mask_keeps_shape(impl):
    w = np.array([[0.2, -0.05], [0.0, -0.3], [0.1, 0.09]], dtype=np.float32)
    mask = impl.threshold_mask(w, 0.1)
    assert mask.shape == (3, 2)
    np.testing.assert_array_equal(mask, [[1, 0], [0, 1], [1, 0]])


def test_threshold_mask_zero_threshold_keeps_everything(impl):
    np.testing.assert_array_equal(impl.threshold_mask(np.array([0.0, -1.0, 1e-30]), 0.0), [1, 1, 1])


# ---------------------------------------------------------------------------------------------- 03.4 global_magnitude_threshold
def test_global_magnitude_threshold_pools_all_layers(impl):
    # a layer of small weights and a layer of large ones: half of the network is the whole small layer
    small = np.array([[0.01, -0.02], [0.03, -0.04]])
    large = np.array([1.0, -2.0, 3.0, -4.0])
    t = impl.global_magnitude_threshold([small, large], 0.5)
    assert t == pytest.approx(0.04), "the 4th smallest |w| of all 8 weights (a per-layer threshold is different)"


def test_global_magnitude_threshold_is_the_kth_smallest(impl):
    rng = np.random.default_rng(3)
    values = rng.permutation(np.arange(1, 11, dtype=np.float64)) * rng.choice([-1, 1], 10)
    weights = [values[:3].reshape(3, 1), values[3:]]
    assert impl.global_magnitude_threshold(weights, 0.3) == 3.0, "k = round(0.3 · 10) = 3: the 3rd smallest |w|"
    assert impl.global_magnitude_threshold(weights, 0.35) == 4.0, "k = round(0.35 · 10) = 4 (0.35·10 = 3.5000…04)"
    assert impl.global_magnitude_threshold(weights, 0.25) == 2.0, "k = round(2.5) = 2 (halves to even)"
    assert impl.global_magnitude_threshold(weights, 1.0) == 10.0


def test_global_magnitude_threshold_zero_amount(impl):
    t = impl.global_magnitude_threshold([np.array([0.5, -0.2]), np.array([[0.1]])], 0.0)
    assert t == 0.0 and isinstance(t, float), "k = 0: the threshold is 0.0 (a float)"


def test_global_magnitude_threshold_returns_a_float(impl):
    t = impl.global_magnitude_threshold([np.array([0.5, -0.2], dtype=np.float32), np.array([[0.1, 0.3]])], 0.5)
    assert isinstance(t, float), f"return a Python float, got {type(t).__name__}"
    assert t == pytest.approx(0.2)


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=4), amount=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_global_magnitude_threshold_prunes_exactly_k(impl, sizes, amount, seed):
    # distinct magnitudes: exactly k weights satisfy |w| <= threshold
    rng = np.random.default_rng(seed)
    pooled = rng.permutation(np.arange(1, sum(sizes) + 1)) * 0.125 * rng.choice([-1.0, 1.0], sum(sizes))
    weights = np.split(pooled, np.cumsum(sizes)[:-1])
    k = round(amount * pooled.size)
    t = impl.global_magnitude_threshold(weights, amount)
    if k == 0:
        assert t == 0.0
    else:
        assert sum(int((np.abs(w) <= t).sum()) for w in weights) == k, f"|w| <= threshold must hold for k = {k}"
