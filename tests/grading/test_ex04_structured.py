"""Grader for exercise 04 (lesson 04, structured pruning): an Ln-structured mask along a dim, and compacting a
producer → activation → consumer layer pair.

Expected values come from hand computations and from naive loops written here (a channel's norm by a Python loop
over channels; the pair's outputs before and after compaction computed with plain matrix products).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ex04


def naive_ln_mask(t, k, n, dim):
    """Loop over the channels along `dim`: zero the k of smallest L_n norm (ties: lower index first)."""
    t = np.asarray(t, dtype=np.float64)
    norms = []
    for c in range(t.shape[dim]):
        entries = np.abs(np.take(t, c, axis=dim)).ravel()
        norms.append(entries.max(initial=0.0) if n == np.inf else (entries ** n).sum() ** (1 / n))
    pruned = np.argsort(np.array(norms), kind="stable")[:k]
    mask = np.ones(t.shape, dtype=np.float32)
    for c in pruned:
        index = [slice(None)] * t.ndim
        index[dim] = c
        mask[tuple(index)] = 0
    return mask


# ---------------------------------------------------------------------------------------------- 04.1 ln_structured_mask
def test_ln_structured_mask_docstring_example(impl):
    mask = impl.ln_structured_mask(np.array([[3.0, 4.0], [0.0, 1.0], [1.0, 1.0]]), 1 / 3, n=2, dim=0)
    np.testing.assert_array_equal(mask, [[1, 1], [0, 0], [1, 1]])
    assert mask.dtype == np.float32, f"a float32 0/1 mask, got dtype {mask.dtype}"


def test_ln_structured_mask_dim1_prunes_columns(impl):
    # Linear weight (out=2, in=4): dim=1 ranks the input columns; L2 norms of the columns: 5, 1, 13, 2
    w = np.array([[3.0, 1.0, 5.0, 0.0], [4.0, 0.0, 12.0, 2.0]])
    np.testing.assert_array_equal(impl.ln_structured_mask(w, 2, n=2, dim=1), [[1, 0, 1, 0], [1, 0, 1, 0]])
    np.testing.assert_array_equal(impl.ln_structured_mask(w, 2, n=2, dim=-1), [[1, 0, 1, 0], [1, 0, 1, 0]],
                                  err_msg="dim=-1 is the last dim, as in NumPy and PyTorch")


def test_ln_structured_mask_default_dim_is_0(impl):
    w = np.array([[3.0, 1.0, 5.0, 0.0], [4.0, 0.0, 12.0, 2.0]])  # row L2 norms √26 ≈ 5.1 and √164 ≈ 12.8
    np.testing.assert_array_equal(impl.ln_structured_mask(w, 1), [[0, 0, 0, 0], [1, 1, 1, 1]])


@pytest.mark.parametrize("n, expected", [
    (1, [[1, 1], [0, 0], [1, 1]]),        # L1 norms 7, 6, 8: row 1 goes
    (2, [[0, 0], [1, 1], [1, 1]]),        # L2 norms 5, 6, √34 ≈ 5.83: row 0 goes
    (np.inf, [[0, 0], [1, 1], [1, 1]]),   # max norms 4, 6, 5: row 0 goes
])
def test_ln_structured_mask_uses_the_norm_order_n(impl, n, expected):
    t = np.array([[3.0, -4.0], [0.0, -6.0], [-5.0, 3.0]])  # signs must not matter: |t|
    np.testing.assert_array_equal(impl.ln_structured_mask(t, 1, n=n, dim=0), expected)


def test_ln_structured_mask_l1_of_negative_entries(impl):
    # row 0 sums to 0 (signed) but its L1 norm is 10, the largest
    t = np.array([[5.0, -5.0], [1.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(impl.ln_structured_mask(t, 1, n=1, dim=0), [[1, 1], [0, 0], [1, 1]])


def test_ln_structured_mask_conv_filters_and_channels(impl):
    # a conv weight (out=3, in=2, kh=2, kw=2); its norms over the *three* other dims decide
    t = np.zeros((3, 2, 2, 2))
    t[0, 0] = 1.0              # filter 0: L1 4 (all in input channel 0)
    t[1, :, 0, 0] = 3.0        # filter 1: L1 6
    t[2, 1] = [[0.5, 0.5], [0.5, 1.0]]   # filter 2: L1 2.5
    filters = impl.ln_structured_mask(t, 1, n=1, dim=0)
    assert filters.shape == t.shape
    np.testing.assert_array_equal(filters[:, 0, 0, 0], [1, 1, 0])
    np.testing.assert_array_equal(filters, naive_ln_mask(t, 1, 1, 0))
    # input channels: channel 0 has L1 4 + 3 = 7, channel 1 has 3 + 2.5 = 5.5 → channel 1 goes
    channels = impl.ln_structured_mask(t, 1, n=1, dim=1)
    np.testing.assert_array_equal(channels, naive_ln_mask(t, 1, 1, 1))
    np.testing.assert_array_equal(channels[0, :, 0, 0], [1, 0])


def test_ln_structured_mask_l2_over_all_other_dims(impl):
    # the L2 norm of *all* of a filter's entries: filter 0 = [[3, 0], [4, 0]] has norm 5 (not 3 + 4 = 7 row by
    # row), filter 1 = [[6, 0], [0, 0]] has norm 6, so filter 0 goes
    t = np.zeros((2, 1, 2, 2))
    t[0, 0, :, 0] = [3.0, 4.0]
    t[1, 0, 0, 0] = 6.0
    mask = impl.ln_structured_mask(t, 1, n=2, dim=0)
    np.testing.assert_array_equal(mask[:, 0, 0, 0], [0, 1])
    np.testing.assert_array_equal(mask, naive_ln_mask(t, 1, 2, 0))


def test_ln_structured_mask_ties_prune_lower_index_first(impl):
    t = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [0.0, -1.0]])  # rows 0, 1, 3 tie at norm 1
    np.testing.assert_array_equal(impl.ln_structured_mask(t, 2, n=2, dim=0), [[0, 0], [0, 0], [1, 1], [1, 1]])


@pytest.mark.parametrize("amount, pruned", [(0.375, 2), (0.625, 2), (0.3, 1), (0, 0), (1.0, 4), (3, 3)])
def test_ln_structured_mask_rounds_like_pytorch(impl, amount, pruned):
    t = np.array([[4.0, 0.0], [1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    mask = impl.ln_structured_mask(t, amount, n=2, dim=0)
    assert int((mask[:, 0] == 0).sum()) == pruned, f"amount={amount!r} of 4 channels prunes round(amount*4)={pruned}"
    np.testing.assert_array_equal(mask, naive_ln_mask(t, pruned, 2, 0))


def test_ln_structured_mask_does_not_modify_input(impl):
    t = np.array([[3.0, -4.0], [0.0, 1.0]])
    impl.ln_structured_mask(t, 1, n=1, dim=1)
    np.testing.assert_array_equal(t, [[3.0, -4.0], [0.0, 1.0]])


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), data=st.data(), amount=st.floats(0, 1),
       n=st.sampled_from([1, 2, np.inf]), seed=st.integers(0, 2**32 - 1))
def test_ln_structured_mask_matches_a_naive_loop(impl, shape, data, amount, n, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    t = np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)  # small ints: ties happen
    mask = impl.ln_structured_mask(t, amount, n=n, dim=dim)
    np.testing.assert_array_equal(mask, naive_ln_mask(t, round(amount * shape[dim]), n, dim % len(shape)))


# ---------------------------------------------------------------------------------------------- 04.2 compact_pair
def relu(v):
    return np.maximum(v, 0)


def pair_forward(x, w1, b1, w2, b2, act=relu):
    """Linear → act → Linear with plain matrix products (b None means no bias)."""
    h = x @ w1.T + (0 if b1 is None else b1)
    return act(h) @ w2.T + (0 if b2 is None else b2)


def make_pair(rng, dead=(), unread=(), c=6, n_in=5, n_out=4):
    w1 = rng.normal(size=(c, n_in))
    b1 = rng.normal(size=c)
    w2 = rng.normal(size=(n_out, c))
    b2 = rng.normal(size=n_out)
    w1[list(dead)] = 0
    w2[:, list(unread)] = 0
    return w1, b1, w2, b2


def copies(*arrays):
    return [None if a is None else a.copy() for a in arrays]


def test_compact_pair_removes_dead_neurons_and_folds_their_bias(impl):
    w1 = np.array([[1.0, 2.0], [0.0, 0.0], [-1.0, 1.0]])  # neuron 1 is dead: it outputs relu(b1[1]) = 2 always
    b1 = np.array([0.5, 2.0, -0.5])
    w2 = np.array([[1.0, 3.0, 1.0], [2.0, -1.0, 0.5]])
    b2 = np.array([0.1, 0.2])
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, b2)
    np.testing.assert_array_equal(keep, [True, False, True])
    assert keep.dtype == bool, "keep is a boolean array"
    np.testing.assert_array_equal(nw1, w1[[0, 2]])
    np.testing.assert_array_equal(nb1, b1[[0, 2]])
    np.testing.assert_array_equal(nw2, w2[:, [0, 2]])
    np.testing.assert_allclose(nb2, [0.1 + 2.0 * 3.0, 0.2 + 2.0 * -1.0],
                               err_msg="the dead neuron's constant relu(b1)·w2[:, c] must be added to b2")


def test_compact_pair_negative_bias_of_dead_neuron_folds_to_nothing(impl):
    # relu(-3) = 0: the dead neuron contributes nothing, so b2 is unchanged (folding b1 itself would be wrong)
    w1 = np.array([[1.0, 2.0], [0.0, 0.0]])
    b1 = np.array([0.5, -3.0])
    w2 = np.array([[1.0, 3.0], [2.0, -1.0]])
    b2 = np.array([0.1, 0.2])
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, b2)
    np.testing.assert_array_equal(keep, [True, False])
    np.testing.assert_allclose(nb2, [0.1, 0.2])


def test_compact_pair_removes_the_producer_row_of_an_unread_channel(impl):
    w1 = np.array([[1.0, 2.0], [3.0, 4.0], [-1.0, 1.0]])
    b1 = np.array([0.5, 2.0, -0.5])
    w2 = np.array([[1.0, 0.0, 1.0], [2.0, 0.0, 0.5]])  # nobody reads channel 1 (pruned on the consumer's dim 1)
    b2 = np.array([0.1, 0.2])
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, b2)
    np.testing.assert_array_equal(keep, [True, False, True])
    np.testing.assert_array_equal(nw1, [[1.0, 2.0], [-1.0, 1.0]], err_msg="the producer's row 1 must go too")
    np.testing.assert_array_equal(nb1, [0.5, -0.5])
    np.testing.assert_array_equal(nw2, [[1.0, 1.0], [2.0, 0.5]])
    np.testing.assert_allclose(nb2, [0.1, 0.2], err_msg="an unread channel contributes nothing to b2")


@pytest.mark.parametrize("dead, unread", [((1,), ()), ((0, 3), (2,)), ((), (1, 4)), ((2,), (2,)),
                                          ((0, 1, 2, 3, 4), ()), ((), ())])
def test_compact_pair_preserves_the_outputs(impl, dead, unread):
    rng = np.random.default_rng(len(dead) * 10 + len(unread))
    w1, b1, w2, b2 = make_pair(rng, dead, unread)
    x = rng.normal(size=(8, w1.shape[1]))
    expected = pair_forward(x, w1, b1, w2, b2)
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, b2)
    gone = set(dead) | set(unread)
    np.testing.assert_array_equal(keep, [c not in gone for c in range(w1.shape[0])])
    assert nw1.shape == (w1.shape[0] - len(gone), w1.shape[1]) and nw2.shape == (w2.shape[0], nw1.shape[0])
    np.testing.assert_allclose(pair_forward(x, nw1, nb1, nw2, nb2), expected, rtol=1e-10, atol=1e-10)


def test_compact_pair_does_not_modify_its_inputs(impl):
    w1, b1, w2, b2 = make_pair(np.random.default_rng(0), dead=(1, 2), unread=(4,))
    before = copies(w1, b1, w2, b2)
    impl.compact_pair(w1, b1, w2, b2)
    for name, array, old in zip(["w1", "b1", "w2", "b2"], [w1, b1, w2, b2], before):
        np.testing.assert_array_equal(array, old, err_msg=f"compact_pair modified {name} in place")


def test_compact_pair_creates_b2_when_needed(impl):
    w1 = np.array([[0.0, 0.0], [1.0, 1.0]])
    b1 = np.array([1.5, 0.0])
    w2 = np.array([[2.0, 1.0]])
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, None)
    np.testing.assert_array_equal(keep, [False, True])
    np.testing.assert_allclose(nb2, [3.0], err_msg="without b2, the folded constant becomes a new bias")


def test_compact_pair_without_biases(impl):
    w1 = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    w2 = np.array([[2.0, 1.0, 0.0]])
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, None, w2, None)
    np.testing.assert_array_equal(keep, [False, True, False])
    assert nb1 is None, "no producer bias in, no producer bias out"
    assert nb2 is None or np.all(nb2 == 0), "a dead neuron without bias outputs 0: nothing to fold"
    np.testing.assert_array_equal(nw1, [[1.0, 1.0]])
    np.testing.assert_array_equal(nw2, [[1.0]])


def test_compact_pair_with_another_activation(impl):
    rng = np.random.default_rng(5)
    w1, b1, w2, b2 = make_pair(rng, dead=(0, 3))
    x = rng.normal(size=(7, w1.shape[1]))
    for act in (np.tanh, lambda v: v, lambda v: 1 / (1 + np.exp(-v))):
        expected = pair_forward(x, w1, b1, w2, b2, act)
        keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, b2, activation=act)
        np.testing.assert_array_equal(keep, [False, True, True, False, True, True])
        np.testing.assert_allclose(pair_forward(x, nw1, nb1, nw2, nb2, act), expected, rtol=1e-10, atol=1e-10)


def test_compact_pair_can_fold_false_keeps_dead_neurons_with_a_constant(impl):
    w1 = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    b1 = np.array([2.0, -1.0, 0.5, 0.3])  # neuron 0 outputs 2 (cannot go without folding); neuron 1 outputs 0
    w2 = np.array([[1.0, 1.0, 1.0, 0.0]])  # neuron 3 is unread: it goes either way
    b2 = np.array([0.0])
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, b2, can_fold=False)
    np.testing.assert_array_equal(keep, [True, False, True, False])
    np.testing.assert_allclose(nb2, [0.0])
    np.testing.assert_array_equal(nb1, [2.0, 0.5])


def test_compact_pair_conv_shapes(impl):
    # conv → ReLU → conv: w1 (C, in, k, k), w2 (O, C, k, k); a dead filter's constant relu(b) is seen by every
    # tap of the consumer's kernel (no padding), so it adds relu(b1[c]) · Σ_kernel w2[:, c] to b2
    rng = np.random.default_rng(2)
    w1 = rng.normal(size=(4, 2, 3, 3))
    b1 = np.array([0.1, 1.5, -0.2, 0.7])
    w2 = rng.normal(size=(3, 4, 3, 3))
    b2 = rng.normal(size=3)
    w1[1] = 0        # dead filter with a positive bias
    w2[:, 2] = 0     # unread channel
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, b2)
    np.testing.assert_array_equal(keep, [True, False, False, True])
    assert nw1.shape == (2, 2, 3, 3) and nw2.shape == (3, 2, 3, 3)
    np.testing.assert_array_equal(nw2, w2[:, [0, 3]])
    np.testing.assert_allclose(nb2, b2 + 1.5 * w2[:, 1].sum(axis=(1, 2)))
    np.testing.assert_array_equal(nb1, [0.1, 0.7])


def test_compact_pair_flatten_blocks(impl):
    # conv → ReLU → Flatten → Linear, with w2 given as (O, C, h·w): channel c is read by a block of features
    w1 = np.zeros((2, 1, 1, 1))
    w1[0] = 1.0
    b1 = np.array([0.0, 0.5])  # channel 1 is dead and outputs 0.5 at every position
    w2 = np.arange(12, dtype=np.float64).reshape(2, 2, 3)
    keep, nw1, nb1, nw2, nb2 = impl.compact_pair(w1, b1, w2, np.zeros(2))
    np.testing.assert_array_equal(keep, [True, False])
    np.testing.assert_allclose(nb2, 0.5 * w2[:, 1].sum(axis=1))
