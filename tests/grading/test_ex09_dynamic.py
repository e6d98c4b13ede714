"""Grader for exercise 09 (lesson 09, dynamic pruning): the movement-pruning score update (Sanh et al. 2020) and
the drop-and-grow step shared by SET (Mocanu et al. 2018) and RigL (Evci et al. 2020).

Expected values are computed here by hand for the small cases, and by naive stable sorts
(``np.argsort(..., kind="stable")``: among equal values the lower index comes first) for the random ones.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ex09


# ---------------------------------------------------------------------------------------------- 09.1 movement_score_update
def test_movement_score_update_by_hand(impl):
    scores = np.array([0.0, 1.0, -1.0, 0.5])
    weight = np.array([2.0, -3.0, 0.5, -1.0])
    grad = np.array([-1.0, -2.0, 4.0, 0.0])
    # S − g ⊙ W = [0 + 2, 1 − 6, −1 − 2, 0.5 − 0]
    np.testing.assert_allclose(impl.movement_score_update(scores, weight, grad), [2.0, -5.0, -3.0, 0.5])


def test_movement_score_update_away_from_zero_gains(impl):
    # gradient descent moves w by −lr·g: w = 2 with g = −1 grows (away from 0), w = −2 with g = −1 shrinks
    new = impl.movement_score_update(np.zeros(2), np.array([2.0, -2.0]), np.array([-1.0, -1.0]))
    assert new[0] > 0 > new[1], "the weight moving away from zero must gain score, the one moving to zero lose it"


def test_movement_score_update_keeps_the_sign_of_the_weight(impl):
    # −g ⊙ W with the signed weight, not |W|: a negative weight pushed further negative gains score
    new = impl.movement_score_update(np.zeros(3), np.array([-2.0, -0.5, 3.0]), np.array([1.0, 4.0, 2.0]))
    np.testing.assert_allclose(new, [2.0, 2.0, -6.0])


def test_movement_score_update_accumulates(impl):
    scores = np.array([[1.0, -2.0], [0.25, 0.0]])
    weight = np.array([[0.5, 1.0], [-1.0, 2.0]])
    grad = np.array([[2.0, -1.0], [1.0, 0.5]])
    once = impl.movement_score_update(scores, weight, grad)
    twice = impl.movement_score_update(once, weight, grad)
    np.testing.assert_allclose(once, scores - grad * weight)
    np.testing.assert_allclose(twice, scores - 2 * grad * weight)
    assert once.shape == (2, 2)


def test_movement_score_update_does_not_modify_inputs(impl):
    scores, weight, grad = np.array([1.0, 2.0]), np.array([0.5, -0.5]), np.array([1.0, 1.0])
    impl.movement_score_update(scores, weight, grad)
    np.testing.assert_array_equal(scores, [1.0, 2.0])
    np.testing.assert_array_equal(weight, [0.5, -0.5])
    np.testing.assert_array_equal(grad, [1.0, 1.0])


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_movement_score_update_any_shape(impl, shape, seed):
    rng = np.random.default_rng(seed)
    scores, weight, grad = (rng.standard_normal(shape) for _ in range(3))
    expected = np.empty(shape)
    for index in np.ndindex(*shape):       # a naive loop, one entry at a time
        expected[index] = scores[index] - grad[index] * weight[index]
    got = impl.movement_score_update(scores, weight, grad)
    assert np.shape(got) == tuple(shape)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------- 09.2 drop_and_grow
def naive_drop_and_grow(mask, weight, scores, k):
    active = np.flatnonzero(mask)
    dropped = active[np.argsort(np.abs(weight[active]), kind="stable")[:k]]
    candidates = np.flatnonzero(mask == 0)                       # inactive before the update: not just-dropped
    grown = candidates[np.argsort(-np.asarray(scores, float)[candidates], kind="stable")[:k]]
    new = np.array(mask, dtype=np.float32)
    new[dropped] = 0
    new[grown] = 1
    return new, grown


def check(impl, mask, weight, scores, k):
    mask, weight, scores = (np.asarray(a) for a in (mask, weight, scores))
    new, grown = impl.drop_and_grow(mask, weight, scores, k)
    new = np.asarray(new)
    expected, expected_grown = naive_drop_and_grow(mask, weight, scores, k)
    assert new.shape == mask.shape, f"the new mask has the mask's shape {mask.shape}, got {new.shape}"
    assert new.sum() == mask.sum(), f"the number of active weights must not change: {mask.sum()} -> {new.sum()}"
    np.testing.assert_array_equal(new, expected)
    assert sorted(np.asarray(grown).ravel().tolist()) == sorted(expected_grown.tolist()), "grown indices"
    return new, grown


def test_drop_and_grow_by_hand(impl):
    mask = np.array([1, 1, 0, 1, 0, 0, 1, 0], np.float32)
    weight = np.array([0.5, -0.1, 9.0, 0.3, 0.0, 7.0, -2.0, 0.0], np.float32)
    scores = np.array([0.0, 5.0, 0.2, 0.0, 0.9, 0.1, 0.0, 0.8])
    new, grown = impl.drop_and_grow(mask, weight, scores, 2)
    # drop |w| 0.1 (index 1) and 0.3 (index 3); grow the inactive 4 (0.9) and 7 (0.8)
    np.testing.assert_array_equal(new, [1, 0, 0, 0, 1, 0, 1, 1])
    assert sorted(np.asarray(grown).tolist()) == [4, 7]


def test_drop_and_grow_returns_float32_mask(impl):
    new, grown = impl.drop_and_grow(np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 2.0, 0.0]),
                                    np.array([0.0, 1.0, 0.0, 2.0]), 1)
    assert isinstance(new, np.ndarray) and new.dtype == np.float32, f"a float32 0/1 mask, got {type(new)}"
    np.testing.assert_array_equal(new, [0, 0, 1, 1])
    assert len(np.asarray(grown).ravel()) == 1 and int(np.asarray(grown).ravel()[0]) == 3


def test_drop_and_grow_drops_the_smallest_magnitudes(impl):
    # the most negative weight is the largest in magnitude: it stays; the largest positive ones stay too
    check(impl, [1, 1, 1, 1, 0, 0, 0], [-5.0, 0.2, 3.0, -0.1, 0.0, 0.0, 0.0], [0, 0, 0, 0, 3.0, 2.0, 1.0], 2)


def test_drop_and_grow_drops_only_active_weights(impl):
    # inactive positions hold tiny (masked) weights: dropping must pick among the ACTIVE ones
    check(impl, [0, 1, 0, 1, 1, 0], [1e-6, 4.0, 0.0, 2.0, 3.0, 1e-3], [5.0, 0, 4.0, 0, 0, 3.0], 1)


def test_drop_and_grow_grows_only_inactive_positions(impl):
    # the largest grow scores sit on ACTIVE positions: they cannot be grown (they exist already)
    check(impl, [1, 1, 1, 0, 0, 0], [3.0, 2.0, 1.0, 0.0, 0.0, 0.0], [9.0, 8.0, 0.0, 0.1, 0.3, 0.2], 2)


def test_drop_and_grow_never_regrows_what_it_just_dropped(impl):
    # the just-dropped position (index 1, smallest |w|) has by far the largest grow score
    new, grown = check(impl, [1, 1, 0, 0], [2.0, 0.01, 0.0, 0.0], [0.0, 100.0, 0.5, 0.25], 1)
    assert new[1] == 0 and new[2] == 1


def test_drop_and_grow_ties_lower_index_first(impl):
    # equal |w| among the active: indices 0 and 2 go first; equal scores among the inactive: 3 and 4 grow
    check(impl, [1, 1, 1, 0, 0, 0], [1.0, 2.0, -1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 0.5, 0.5], 2)


def test_drop_and_grow_k_zero_changes_nothing(impl):
    mask = np.array([1, 0, 1, 0], np.float32)
    new, grown = impl.drop_and_grow(mask, np.array([1.0, 0.0, 2.0, 0.0]), np.array([0.0, 1.0, 0.0, 2.0]), 0)
    np.testing.assert_array_equal(new, mask)
    assert len(np.asarray(grown).ravel()) == 0


def test_drop_and_grow_does_not_modify_inputs(impl):
    mask = np.array([1, 1, 0, 0, 1, 0], np.float32)
    weight = np.array([0.5, 0.1, 0.0, 0.0, 2.0, 0.0], np.float32)
    scores = np.array([0.0, 0.0, 1.0, 2.0, 0.0, 3.0])
    copies = (mask.copy(), weight.copy(), scores.copy())
    new, _ = impl.drop_and_grow(mask, weight, scores, 2)
    for given_array, copy in zip((mask, weight, scores), copies):
        np.testing.assert_array_equal(given_array, copy, err_msg="inputs must not be modified in place")
    assert not np.shares_memory(new, mask), "return a new mask, not the input"


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), density=st.floats(0.05, 0.95), fraction=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_drop_and_grow_matches_a_naive_sort(impl, n, density, fraction, seed):
    rng = np.random.default_rng(seed)
    active = max(1, min(n - 1, round(density * n)))
    mask = np.zeros(n, np.float32)
    mask[rng.permutation(n)[:active]] = 1
    k = min(round(fraction * active), n - active)                 # room to regrow
    weight = rng.integers(-3, 4, size=n).astype(np.float32)       # small integers: ties of |w|
    scores = rng.integers(0, 4, size=n).astype(np.float64)        # and ties of grow scores
    check(impl, mask, weight, scores, k)
