"""Tests of pattern sparsity (minprune/prune/patterns.py): N:M (e.g. 2:4) and r×c block pruning.

The expected masks come from explicit Python loops over groups and blocks, with the documented tie rule
(among equal magnitudes the lower index is pruned first); inputs are small integers, so ties are common.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import nn, prune

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)


class Holder(nn.Module):
    def __init__(self, values):
        super().__init__()
        self.w = nn.Parameter(np.asarray(values, dtype=np.float32))


def naive_nm_mask(w, n, m, prior=None):
    """Per row, per group of m consecutive inputs: prune the m − n entries that are already pruned or smallest."""
    prior = np.ones(w.shape) if prior is None else prior
    mask = prior.astype(np.float32).copy()
    rows, cols = w.reshape(-1, w.shape[-1]).shape
    flat_w, flat_mask, flat_prior = w.reshape(rows, cols), mask.reshape(rows, cols), prior.reshape(rows, cols)
    for r in range(rows):
        for g in range(0, cols, m):
            group = list(range(g, g + m))
            order = sorted(group, key=lambda j: (flat_prior[r, j] != 0, abs(float(flat_w[r, j])), j))
            for j in order[:m - n]:
                flat_mask[r, j] = 0
    return mask


def naive_block_mask(w, amount, block, prior=None):
    """Prune the round(amount · B_alive) alive r×c blocks of smallest L1 norm of |w| ⊙ prior, row-major order."""
    r, c = block
    flat = np.abs(w.reshape(w.shape[0], -1)).astype(np.float64)
    prior = np.ones(flat.shape) if prior is None else prior.reshape(flat.shape)
    blocks = [(i, j) for i in range(flat.shape[0] // r) for j in range(flat.shape[1] // c)]
    alive = [b for b in blocks if prior[b[0] * r:(b[0] + 1) * r, b[1] * c:(b[1] + 1) * c].any()]
    norms = {b: float((flat * prior)[b[0] * r:(b[0] + 1) * r, b[1] * c:(b[1] + 1) * c].sum()) for b in alive}
    k = amount if isinstance(amount, int) else round(amount * len(alive))
    mask = prior.astype(np.float32).copy()
    for (i, j) in sorted(alive, key=lambda b: (norms[b], blocks.index(b)))[:k]:
        mask[i * r:(i + 1) * r, j * c:(j + 1) * c] = 0
    return mask.reshape(w.shape)


# ---------------------------------------------------------------------- N:M
def test_nm_structured_2_4_keeps_the_two_largest_of_every_group_of_four():
    rng = np.random.default_rng(0)
    fc = nn.Linear(16, 6, rng=rng)
    w = fc.weight.data.copy()
    prune.nm_structured(fc, "weight", n=2, m=4)
    mask = fc.weight_mask
    for row in range(6):
        for g in range(0, 16, 4):
            kept = [j for j in range(g, g + 4) if mask[row, j]]
            assert len(kept) == 2
            largest = sorted(range(g, g + 4), key=lambda j: abs(w[row, j]))[2:]
            assert sorted(kept) == sorted(largest)
    assert np.count_nonzero(fc.weight.data) == 6 * 16 // 2  # exactly 50 %
    x = rng.standard_normal((3, 16)).astype(np.float32)
    np.testing.assert_allclose(fc(x).data, x @ (w * mask).T + fc.bias.data, rtol=1e-5, atol=1e-6)


@st.composite
def nm_case(draw):
    m = draw(st.sampled_from([1, 2, 4, 8]))
    n = draw(st.integers(0, m))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))) + (m * draw(st.integers(1, 3)),)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float32), n, m


@SETTINGS
@given(nm_case())
def test_nm_structured_matches_the_naive_group_loop(case):
    w, n, m = case
    h = Holder(w)
    prune.nm_structured(h, "w", n=n, m=m)
    np.testing.assert_array_equal(h.w_mask, naive_nm_mask(w, n, m))
    assert np.all(h.w_mask.reshape(-1, m).sum(axis=1) == n)


@SETTINGS
@given(nm_case(), st.integers(0, 2 ** 32 - 1))
def test_nm_structured_after_unstructured_keeps_old_zeros_first(case, seed):
    w, n, m = case
    h = Holder(w)
    prior = (np.random.default_rng(seed).random(w.shape) < 0.6).astype(np.float32)
    prune.custom_from_mask(h, "w", prior)
    prune.nm_structured(h, "w", n=n, m=m)
    np.testing.assert_array_equal(h.w_mask, naive_nm_mask(w, n, m, prior))
    assert np.all(h.w_mask.reshape(-1, m).sum(axis=1) <= n) and np.all(h.w_mask[prior == 0] == 0)


def test_nm_mask_ties_prune_the_lower_index_first():
    np.testing.assert_array_equal(prune.nm_mask(np.array([[1.0, 1.0, 1.0, 1.0, 3.0, -3.0, 2.0, 3.0]])),
                                  [[0, 0, 1, 1, 0, 1, 0, 1]])  # |3| = |−3| = |3|: index 4 goes first


@pytest.mark.parametrize("make, error", [
    (lambda: (nn.Linear(6, 2), {"n": 2, "m": 4}), ValueError),       # 6 inputs: not a multiple of 4
    (lambda: (nn.Linear(8, 2), {"n": 5, "m": 4}), ValueError),       # n > m
    (lambda: (nn.Linear(8, 2), {"n": 2, "m": 0}), ValueError),
    (lambda: (nn.Linear(8, 2), {"n": 2.0, "m": 4}), ValueError),
    (lambda: (nn.Conv2d(4, 2, 3), {"n": 2, "m": 4}), ValueError),    # groups run along the last dim (kw = 3)
])
def test_nm_structured_errors_leave_the_module_unchanged(make, error):
    module, kwargs = make()
    w = module.weight.data.copy()
    with pytest.raises(error, match=r"m|n"):
        prune.nm_structured(module, "weight", **kwargs)
    assert not prune.is_pruned(module) and not module._buffers and module.weight is module._parameters["weight"]
    np.testing.assert_array_equal(module.weight.data, w)


def test_nm_error_on_an_already_pruned_module_keeps_its_mask():
    fc = nn.Linear(6, 2, rng=np.random.default_rng(0))
    prune.l1_unstructured(fc, "weight", amount=3)
    mask, hooks = fc.weight_mask.copy(), list(fc._forward_pre_hooks.items())
    with pytest.raises(ValueError, match="6"):
        prune.nm_structured(fc, "weight")
    np.testing.assert_array_equal(fc.weight_mask, mask)
    assert list(fc._forward_pre_hooks.items()) == hooks


# ---------------------------------------------------------------------- blocks
@st.composite
def block_case(draw):
    r, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rows, cols = r * draw(st.integers(1, 4)), c * draw(st.integers(1, 4))
    w = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).integers(-2, 3, size=(rows, cols))
    blocks = (rows // r) * (cols // c)
    amount = draw(st.one_of(st.floats(0.0, 1.0), st.integers(0, blocks)))
    return w.astype(np.float32), amount, (r, c)


@SETTINGS
@given(block_case())
def test_block_unstructured_matches_the_naive_block_loop(case):
    w, amount, block = case
    h = Holder(w)
    prune.block_unstructured(h, "w", amount=amount, block=block)
    np.testing.assert_array_equal(h.w_mask, naive_block_mask(w, amount, block))
    r, c = block
    tiles = h.w_mask.reshape(w.shape[0] // r, r, w.shape[1] // c, c)
    assert np.all((tiles.min(axis=(1, 3)) == tiles.max(axis=(1, 3))))  # whole blocks only


@SETTINGS
@given(block_case(), st.floats(0.0, 1.0))
def test_block_unstructured_composition_counts_only_alive_blocks(case, second):
    w, amount, block = case
    h = Holder(w)
    prune.block_unstructured(h, "w", amount=amount, block=block)
    first = h.w_mask.copy()
    prune.block_unstructured(h, "w", amount=second, block=block)
    np.testing.assert_array_equal(h.w_mask, naive_block_mask(w, second, block, prior=first))


def test_block_unstructured_half_then_half_is_75_percent_of_the_blocks():
    fc = nn.Linear(8, 8, rng=np.random.default_rng(1))
    prune.block_unstructured(fc, "weight", amount=0.5, block=(2, 2))
    assert (fc.weight_mask == 0).mean() == 0.5
    prune.block_unstructured(fc, "weight", amount=0.5, block=(2, 2))
    assert (fc.weight_mask == 0).mean() == 0.75


def test_block_unstructured_on_a_conv_weight_flattens_to_out_by_rest():
    conv = nn.Conv2d(2, 4, 2, rng=np.random.default_rng(2))
    w = conv.weight.data.copy()  # (4, 2, 2, 2) → (4, 8)
    prune.block_unstructured(conv, "weight", amount=2, block=(2, 4))
    np.testing.assert_array_equal(conv.weight_mask, naive_block_mask(w, 2, (2, 4)))
    assert int((conv.weight_mask == 0).sum()) == 16


@pytest.mark.parametrize("kwargs, error", [
    ({"amount": 0.5, "block": (3, 2)}, ValueError),   # 4 rows are not divisible by 3
    ({"amount": 0.5, "block": (2, 5)}, ValueError),
    ({"amount": 0.5, "block": (0, 2)}, ValueError),
    ({"amount": 0.5, "block": (2, 2, 2)}, ValueError),
    ({"amount": 1.5, "block": (2, 2)}, ValueError),
    ({"amount": 9, "block": (2, 2)}, ValueError),     # only 8 blocks
    ({"amount": "a", "block": (2, 2)}, TypeError),
])
def test_block_unstructured_errors_leave_the_module_unchanged(kwargs, error):
    fc = nn.Linear(8, 4, rng=np.random.default_rng(3))
    w = fc.weight.data.copy()
    with pytest.raises(error):
        prune.block_unstructured(fc, "weight", **kwargs)
    assert not prune.is_pruned(fc) and not fc._buffers
    np.testing.assert_array_equal(fc.weight.data, w)
