"""Grader for exercise 10 (lesson 10, research): one round of iterative magnitude pruning with rewinding, the
step behind the lottery ticket hypothesis (Frankle & Carbin 2019).

Expected masks come from a naive stable sort of the alive entries by |trained weight| (ties: lower flat index
first); the rewound weights are the initial ones where the new mask keeps a weight and exactly 0 elsewhere.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ex10


def naive_imp_step(weight, mask, initial, rate):
    alive = np.flatnonzero(np.ravel(mask))
    drop = alive[np.argsort(np.abs(np.ravel(weight)[alive]), kind="stable")[:round(rate * alive.size)]]
    new = np.array(mask, dtype=np.float64).ravel()
    new[drop] = 0
    new = new.reshape(np.shape(mask))
    return new, np.asarray(initial) * new


def check(impl, weight, mask, initial, rate):
    weight, mask, initial = (np.asarray(a, dtype=np.float32) for a in (weight, mask, initial))
    new_mask, rewound = impl.imp_step(weight, mask, initial, rate)
    expected_mask, expected_weights = naive_imp_step(weight, mask, initial, rate)
    assert np.shape(new_mask) == mask.shape and np.shape(rewound) == mask.shape, "outputs keep the layer's shape"
    np.testing.assert_array_equal(new_mask, expected_mask, err_msg="new mask")
    np.testing.assert_array_equal(rewound, expected_weights, err_msg="rewound weights = initial ⊙ new mask")
    return new_mask, rewound


def test_imp_step_by_hand(impl):
    weight = np.array([[0.5, -0.1, 0.0], [2.0, -0.3, 0.2]], np.float32)
    mask = np.array([[1, 1, 0], [1, 1, 1]], np.float32)
    initial = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    new_mask, rewound = impl.imp_step(weight, mask, initial, 0.4)
    # 5 alive, round(0.4 · 5) = 2 pruned: |−0.1| and |0.2|
    np.testing.assert_array_equal(new_mask, [[1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(rewound, [[1.0, 0.0, 0.0], [4.0, 5.0, 0.0]])


def test_imp_step_rate_applies_to_the_alive_weights(impl):
    # 10 entries, 5 alive: 40 % of the ALIVE ones is 2 (40 % of all would be 4)
    mask = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0], np.float32)
    weight = np.arange(1, 11, dtype=np.float32)
    new_mask, _ = check(impl, weight, mask, np.ones(10), 0.4)
    assert new_mask.sum() == 3


def test_imp_step_pruned_weights_stay_pruned(impl):
    # the trained weight_orig of a pruned entry may be large (momentum, weight decay): it must not come back
    mask = np.array([0, 1, 1, 1, 0, 1], np.float32)
    weight = np.array([9.0, 0.2, 0.5, 0.1, 8.0, 0.3], np.float32)
    new_mask, _ = check(impl, weight, mask, np.full(6, 0.7), 0.5)
    assert new_mask[0] == 0 and new_mask[4] == 0


def test_imp_step_rewinds_kept_weights_to_initial(impl):
    weight = np.array([3.0, -0.5, 2.0, 0.1], np.float32)      # trained
    initial = np.array([0.25, -0.75, 0.5, 0.125], np.float32)  # at initialisation (or at step k)
    _, rewound = check(impl, weight, np.ones(4), initial, 0.5)
    np.testing.assert_array_equal(rewound, [0.25, 0.0, 0.5, 0.0])


def test_imp_step_rewound_pruned_entries_are_exactly_zero(impl):
    initial = np.array([[0.3, -0.2], [0.5, 0.4]], np.float32)
    new_mask, rewound = impl.imp_step(np.array([[1.0, 0.01], [2.0, 0.02]], np.float32), np.ones((2, 2), np.float32),
                                      initial, 0.5)
    assert (np.asarray(rewound)[np.asarray(new_mask) == 0] == 0).all(), "pruned entries rewind to 0, not to initial"


def test_imp_step_uses_magnitude(impl):
    check(impl, [-5.0, 0.5, 1.0, -0.25, 2.0], np.ones(5), [1, 2, 3, 4, 5], 0.4)


def test_imp_step_ties_prune_lower_index_first(impl):
    check(impl, [1.0, -1.0, 1.0, 2.0], np.ones(4), [1, 2, 3, 4], 0.5)


@pytest.mark.parametrize("rate, pruned", [(0.2, 2), (0.25, 2), (0.35, 4), (0.0, 0), (1.0, 10)])
def test_imp_step_rounds_like_pytorch(impl, rate, pruned):
    # round(rate · alive) with Python's round: 2.5 → 2, 0.35 · 10 = 3.5000000000000004 → 4
    weight = np.linspace(0.1, 1.0, 10, dtype=np.float32)
    new_mask, _ = check(impl, weight, np.ones(10), np.ones(10), rate)
    assert int((np.asarray(new_mask) == 0).sum()) == pruned


def test_imp_step_keeps_shapes_4d(impl):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, 2, 2, 2)).astype(np.float32)
    mask = (rng.random((3, 2, 2, 2)) > 0.3).astype(np.float32)
    check(impl, weight, mask, rng.standard_normal((3, 2, 2, 2)), 0.2)


def test_imp_step_does_not_modify_inputs(impl):
    weight = np.array([0.5, -0.1, 0.3, 2.0], np.float32)
    mask = np.array([1, 1, 1, 1], np.float32)
    initial = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    copies = (weight.copy(), mask.copy(), initial.copy())
    impl.imp_step(weight, mask, initial, 0.5)
    for given_array, copy in zip((weight, mask, initial), copies):
        np.testing.assert_array_equal(given_array, copy, err_msg="inputs must not be modified in place")


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), density=st.floats(0, 1),
       rate=st.sampled_from([0.1, 0.2, 0.5, 0.8]), seed=st.integers(0, 2**32 - 1))
def test_imp_step_matches_a_naive_sort(impl, shape, density, rate, seed):
    rng = np.random.default_rng(seed)
    weight = rng.integers(-4, 5, size=shape).astype(np.float32)     # small integers: ties
    mask = (rng.random(shape) < density).astype(np.float32)
    check(impl, weight, mask, rng.standard_normal(shape), rate)
