"""Grader for exercise 08 (lesson 08, dependency-aware pruning): where a group's channels sit along a member's
dim (``channel_indices``), and the angular distance between a block's input and output (``angular_distance``).

Expected values come from hand computations and from naive loops written here (one Python loop over channels
and positions for the indices; one loop over samples with the arccos formula for the distance), and from what
the indices must select in real tensors: a channel of a concatenation, flattened.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ex08


def naive_channel_indices(channels, offset, block):
    """Channel c of the group occupies positions offset + c·block + j, j = 0 … block − 1, channel after channel."""
    positions = []
    for c in channels:
        for j in range(block):
            positions.append(offset + c * block + j)
    return positions


def naive_angular(inputs, outputs):
    distances = []
    for a, b in zip(inputs, outputs):
        a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        cos = 0.0 if na == 0 or nb == 0 else min(1.0, max(-1.0, float(a @ b) / (na * nb)))
        distances.append(np.arccos(cos) / np.pi)
    return float(np.mean(distances))


# ---------------------------------------------------------------------------------------------- 08.1 channel_indices
def test_channel_indices_docstring_example(impl):
    got = impl.channel_indices([0, 2], offset=3, block=2)
    assert isinstance(got, np.ndarray), f"return a NumPy array, got {type(got).__name__}"
    np.testing.assert_array_equal(got, [3, 4, 7, 8])
    assert np.issubdtype(got.dtype, np.integer), f"positions are integers (to index with), got dtype {got.dtype}"


def test_channel_indices_defaults_are_plain_channel_numbers(impl):
    """A conv or a BatchNorm: channel c sits at position c."""
    np.testing.assert_array_equal(impl.channel_indices([1, 4, 5]), [1, 4, 5])
    np.testing.assert_array_equal(impl.channel_indices(np.array([0, 3])), [0, 3])


def test_channel_indices_offset_shifts_a_concatenations_later_inputs(impl):
    """A layer reading cat([a (2 channels), b]) sees b's channel c at position 2 + c."""
    np.testing.assert_array_equal(impl.channel_indices([0, 1], offset=2), [2, 3],
                                  err_msg="the offset (channels of the earlier inputs) is added")
    np.testing.assert_array_equal(impl.channel_indices([3], offset=5, block=1), [8])


def test_channel_indices_flatten_block_covers_the_whole_channel(impl):
    """After Flatten, channel c of a (N, C, h, w) tensor is the h·w consecutive features c·h·w … c·h·w + h·w − 1."""
    np.testing.assert_array_equal(impl.channel_indices([1], block=4), [4, 5, 6, 7],
                                  err_msg="a channel spans `block` consecutive positions, not just its first one")
    np.testing.assert_array_equal(impl.channel_indices([0, 2], block=3), [0, 1, 2, 6, 7, 8],
                                  err_msg="channel after channel: all of channel 0's block, then channel 2's")


def test_channel_indices_select_the_channel_in_a_flattened_concatenation(impl):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 2, 3, 3)), rng.standard_normal((2, 3, 3, 3))
    flat = np.concatenate([a, b], axis=1).reshape(2, -1)           # (N, (2 + 3)·9): what a Linear reads
    for c in range(3):
        idx = impl.channel_indices([c], offset=2 * 9, block=9)     # b comes after a's 2 channels of 9 features
        np.testing.assert_array_equal(flat[:, idx], b[:, c].reshape(2, -1), err_msg=f"channel {c} of b")
    idx = impl.channel_indices([0, 2], offset=2 * 9, block=9)
    np.testing.assert_array_equal(flat[:, idx], b[:, [0, 2]].reshape(2, -1),
                                  err_msg="several channels: their features in channel-major (Flatten) order")


def test_channel_indices_of_no_channels_is_empty(impl):
    got = np.asarray(impl.channel_indices([], offset=4, block=3))
    assert got.shape == (0,), f"no channels → no positions, got shape {got.shape}"


@settings(max_examples=40, deadline=None)
@given(channels=st.lists(st.integers(0, 20), max_size=6, unique=True).map(sorted),
       offset=st.integers(0, 30), block=st.integers(1, 6))
def test_channel_indices_matches_a_naive_loop(impl, channels, offset, block):
    got = impl.channel_indices(np.array(channels, dtype=np.int64), offset=offset, block=block)
    np.testing.assert_array_equal(np.asarray(got).ravel(), naive_channel_indices(channels, offset, block))


# ---------------------------------------------------------------------------------------------- 08.2 angular_distance
def test_angular_distance_hand_values(impl):
    x = np.array([[1.0, 2.0, -2.0]])
    assert impl.angular_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])) == pytest.approx(0.5), \
        "orthogonal vectors: arccos(0) = π/2, divided by π → 0.5"
    assert impl.angular_distance(x, -3 * x) == pytest.approx(1.0), "opposite vectors: arccos(−1) = π → 1"
    assert impl.angular_distance(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])) == pytest.approx(0.25), \
        "45°: arccos(1/√2) = π/4 → 0.25 (an angle, not 1 − cos)"
    assert impl.angular_distance(np.array([[1.0, 0.0]]), np.array([[1.0, 3 ** 0.5]])) == pytest.approx(1 / 3)


def test_angular_distance_ignores_lengths(impl):
    x = np.array([[3.0, -1.0, 2.0], [0.5, 0.5, 0.0]])
    y = np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 1.0]])
    assert impl.angular_distance(x, y) == pytest.approx(impl.angular_distance(10 * x, 0.1 * y))
    assert impl.angular_distance(x, y) == pytest.approx(naive_angular(x, y))


def test_angular_distance_of_identical_inputs_is_zero(impl):
    """Rounding can make ⟨x, x⟩/(‖x‖‖x‖) = 1.0000000000000002, and arccos of that is nan: clip to [−1, 1]."""
    for v in ([0.6, 0.8, 0.2, 0.5], [1.0, 2.0, 3.0], [0.1, 0.2, 0.3]):
        x = np.array([v])
        d = impl.angular_distance(x, x)
        assert np.isfinite(d) and d == pytest.approx(0.0, abs=1e-6), f"identical {v}: distance {d}"


def test_angular_distance_averages_per_sample_distances(impl):
    inputs = np.array([[1.0, 0.0], [0.0, 1.0]])
    outputs = np.array([[0.0, 1.0], [0.0, 5.0]])           # sample distances 0.5 and 0 → mean 0.25
    assert impl.angular_distance(inputs, outputs) == pytest.approx(0.25), \
        "each sample's angle first, then the mean over samples (not one angle of the whole batch, not the " \
        "arccos of the mean cosine)"


def test_angular_distance_flattens_each_sample(impl):
    rng = np.random.default_rng(1)
    inputs, outputs = rng.standard_normal((2, 4, 3, 2, 2))   # (N, C, H, W) feature maps
    outputs[1] *= 50                                        # one sample much larger than the others
    assert impl.angular_distance(inputs, outputs) == pytest.approx(naive_angular(inputs, outputs), abs=1e-9)


def test_angular_distance_zero_vector_counts_as_orthogonal(impl):
    d = impl.angular_distance(np.zeros((1, 4)), np.ones((1, 4)))
    assert np.isfinite(d) and d == pytest.approx(0.5), "a zero vector: distance 0.5 (as the docstring says)"
    d = impl.angular_distance(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]]))
    assert d == pytest.approx(0.25)


def test_angular_distance_returns_a_float_and_leaves_inputs(impl):
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    y = np.array([[2.0, 1.0], [4.0, 3.0]], dtype=np.float32)
    copies = x.copy(), y.copy()
    d = impl.angular_distance(x, y)
    assert isinstance(d, float), f"a Python float, got {type(d).__name__}"
    assert d == pytest.approx(naive_angular(x, y), abs=1e-6)
    np.testing.assert_array_equal(x, copies[0])
    np.testing.assert_array_equal(y, copies[1])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 5), features=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_angular_distance_matches_a_naive_loop(impl, n, features, seed):
    rng = np.random.default_rng(seed)
    inputs = rng.standard_normal((n, features)) * rng.uniform(0.1, 10, (n, 1))
    outputs = rng.standard_normal((n, features))
    assert impl.angular_distance(inputs, outputs) == pytest.approx(naive_angular(inputs, outputs), abs=1e-9)
