"""Grader for exercise 12 (lesson 12, the LLM capstone): Wanda's per-row mask, Michel et al.'s head importance from
gate gradients, and FedAvg's sample-weighted average.

Expected values come from hand computations and independent NumPy written here:
- wanda_mask: S_ij = |W_ij| · ‖X_j‖₂ on inputs chosen so that the right answer differs from comparing all scores
  of the layer at once (global instead of per row), from |W| alone, from |W| times the norm of W's own column,
  from the *mean* of the inputs instead of their L2 norm, and from pruning the largest; round(s · in) with
  Python's rounding (0.25 · 6 = 1.5 → 2, 0.25 · 10 = 2.5 → 2); ties pruned lower index first; inputs (N, L, in);
  and a per-row loop that sorts each row;
- gate_sensitivity: mean over batches of |∂L/∂ξ_h| divided by the layer's L2 norm, with gradients whose signs
  cancel (so forgetting the absolute value, or summing signed gradients, gives 0) and whose L1, max and L2 norms
  differ;
- fedavg: Σ n_k w_k / Σ n_k by hand with unequal sizes (so an unweighted mean or unnormalised weights are off),
  bad clients (dropped out, NaN, wrong shape, wrong keys) skipped with a warning, the weights normalised over the
  clients actually used, and the dtype kept.
"""
import warnings

import numpy as np
import pytest

pytestmark = pytest.mark.ex12


# ---------------------------------------------------------------------------------------------- 12.1 wanda_mask
def naive_wanda(weight, inputs, sparsity):
    """A loop over output rows: sort each row's scores, prune the first round(s · in) (stable: lower index first)."""
    x = np.asarray(inputs, dtype=np.float64).reshape(-1, np.shape(weight)[1])
    norms = np.array([np.sqrt(np.sum(x[:, j] ** 2)) for j in range(x.shape[1])])
    mask = np.ones(np.shape(weight))
    k = round(sparsity * np.shape(weight)[1])
    for i, row in enumerate(np.abs(weight)):
        order = sorted(range(len(row)), key=lambda j: (row[j] * norms[j], j))
        mask[i, order[:k]] = 0
    return mask


def test_wanda_mask_by_hand(impl):
    weight = np.array([[1.0, -2.0, 3.0, 0.5],
                       [4.0, 1.0, -1.0, 2.0]])
    inputs = np.array([[1.0, 0.0, 0.0, 6.0],
                       [0.0, 0.1, 1.0, 8.0]])            # feature norms ‖X_j‖₂ = 1, 0.1, 1, 10
    # scores: row 0 → 1, 0.2, 3, 5 (drop features 1, 0); row 1 → 4, 0.1, 1, 20 (drop 1, 2)
    mask = np.asarray(impl.wanda_mask(weight, inputs, 0.5))
    assert mask.shape == (2, 4), f"the mask has the weight's shape (out, in), got {mask.shape}"
    np.testing.assert_array_equal(mask, [[0, 0, 1, 1], [1, 0, 0, 1]],
                                  err_msg="S_ij = |W_ij|·‖X_j‖₂; prune the smallest half of each row")


def test_wanda_mask_returns_float32_zeros_and_ones(impl):
    mask = impl.wanda_mask(np.array([[1.0, -2.0, 3.0, 0.5]]), np.ones((3, 4)), 0.5)
    assert isinstance(mask, np.ndarray) and mask.dtype == np.float32, "return a float32 array of 0s and 1s"
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_wanda_mask_compares_within_each_row(impl):
    """Row 0 holds all the small weights: a global threshold would prune row 0 entirely and keep row 1 intact."""
    weight = np.array([[0.1, 0.2, 0.3, 0.4],
                       [5.0, 6.0, 7.0, 8.0]])
    mask = np.asarray(impl.wanda_mask(weight, np.ones((2, 4)), 0.5))
    np.testing.assert_array_equal((mask == 0).sum(axis=1), [2, 2],
                                  err_msg="each output row loses round(sparsity · in) weights (per-row comparison)")
    np.testing.assert_array_equal(mask, [[0, 0, 1, 1], [0, 0, 1, 1]])


def test_wanda_mask_uses_the_input_norm_not_the_weight_column_norm(impl):
    """Column 0 of W is large (so ‖W_:,0‖ is large), but feature 0's inputs are tiny: Wanda prunes it."""
    weight = np.array([[3.0, 1.0],
                       [3.0, 1.0]])
    inputs = np.array([[0.01, 1.0], [0.01, 1.0]])
    np.testing.assert_array_equal(np.asarray(impl.wanda_mask(weight, inputs, 0.5)), [[0, 1], [0, 1]],
                                  err_msg="the activation factor is ‖X_j‖₂ over the calibration inputs")


def test_wanda_mask_uses_the_l2_norm_not_the_mean(impl):
    """Feature 0 fires once strongly (‖·‖₂ = 3, mean |·| = 0.75), feature 1 steadily (‖·‖₂ = 2, mean = 1),
    feature 2 alternates in sign (‖·‖₂ = 4, mean 0)."""
    inputs = np.array([[3.0, 1.0, 2.0], [0.0, 1.0, -2.0], [0.0, 1.0, 2.0], [0.0, 1.0, -2.0]])
    weight = np.ones((1, 3))
    np.testing.assert_array_equal(np.asarray(impl.wanda_mask(weight, inputs, 1 / 3)), [[1, 0, 1]],
                                  err_msg="‖X_j‖₂ = sqrt(Σ_t x_tj²), not a mean")


def test_wanda_mask_prunes_the_smallest_not_the_largest(impl):
    weight = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    mask = np.asarray(impl.wanda_mask(weight, np.ones((1, 6)), 0.5))
    np.testing.assert_array_equal(mask, [[0, 0, 0, 1, 1, 1]])


def test_wanda_mask_uses_the_absolute_weight(impl):
    weight = np.array([[-9.0, 1.0, -0.5, 2.0]])
    np.testing.assert_array_equal(np.asarray(impl.wanda_mask(weight, np.ones((2, 4)), 0.5)), [[1, 0, 0, 1]])


def test_wanda_mask_accepts_token_inputs_n_l_in(impl):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((5, 8))
    inputs = rng.standard_normal((3, 7, 8)) * rng.uniform(0.05, 4.0, 8)       # N=3 sequences of L=7 tokens
    np.testing.assert_array_equal(np.asarray(impl.wanda_mask(weight, inputs, 0.5)),
                                  naive_wanda(weight, inputs, 0.5),
                                  err_msg="the norm runs over all N·L tokens of each feature")


def test_wanda_mask_rounds_like_python_round(impl):
    weight = np.arange(1.0, 7.0)[None]
    assert (np.asarray(impl.wanda_mask(weight, np.ones((1, 6)), 0.25)) == 0).sum() == 2, \
        "round(0.25 · 6) = round(1.5) = 2 weights pruned per row"
    weight = np.arange(1.0, 11.0)[None]
    assert (np.asarray(impl.wanda_mask(weight, np.ones((1, 10)), 0.25)) == 0).sum() == 2, \
        "round(0.25 · 10) = round(2.5) = 2 (Python rounds halves to even)"


def test_wanda_mask_ties_prune_the_lower_index_first(impl):
    mask = np.asarray(impl.wanda_mask(np.ones((2, 4)), np.ones((1, 4)), 0.5))
    np.testing.assert_array_equal(mask, [[0, 0, 1, 1], [0, 0, 1, 1]])


def test_wanda_mask_against_a_per_row_loop(impl):
    rng = np.random.default_rng(1)
    for sparsity in (0.0, 0.3, 0.5, 0.7, 1.0):
        weight, inputs = rng.standard_normal((6, 10)), rng.standard_normal((20, 10)) * rng.uniform(0.1, 3.0, 10)
        np.testing.assert_array_equal(np.asarray(impl.wanda_mask(weight, inputs, sparsity)),
                                      naive_wanda(weight, inputs, sparsity), err_msg=f"sparsity {sparsity}")


def test_wanda_mask_leaves_its_inputs_alone(impl):
    rng = np.random.default_rng(2)
    weight, inputs = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    w, x = weight.copy(), inputs.copy()
    impl.wanda_mask(weight, inputs, 0.5)
    np.testing.assert_array_equal(weight, w)
    np.testing.assert_array_equal(inputs, x)


# ---------------------------------------------------------------------------------------------- 12.2 gate_sensitivity
def test_gate_sensitivity_by_hand(impl):
    grads = np.array([[3.0, -4.0],
                      [-3.0, 4.0]])                     # signs flip between batches; |·| averages to 3, 4
    np.testing.assert_allclose(np.asarray(impl.gate_sensitivity(grads), dtype=np.float64), [0.6, 0.8],
                               err_msg="I_h = mean_b |g_bh|, then divided by the L2 norm over heads (‖(3, 4)‖ = 5)")


def test_gate_sensitivity_takes_the_absolute_value_of_each_batch(impl):
    grads = np.array([[1.0, 2.0, -6.0],
                      [-1.0, 2.0, 6.0],
                      [1.0, 2.0, 0.0]])                 # |g| means: 1, 2, 4 → norm √21
    expected = np.array([1.0, 2.0, 4.0]) / np.sqrt(21.0)
    got = np.asarray(impl.gate_sensitivity(grads), dtype=np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-10,
                               err_msg="the absolute value comes before the mean (signed gradients cancel)")
    assert np.all(got >= 0), "importances are non-negative"


def test_gate_sensitivity_is_normalised_by_the_l2_norm(impl):
    grads = np.array([[2.0, 0.0, 1.0, 2.0]])            # L2 norm 3 (L1 would be 5, max 2)
    got = np.asarray(impl.gate_sensitivity(grads), dtype=np.float64)
    np.testing.assert_allclose(got, [2 / 3, 0.0, 1 / 3, 2 / 3], rtol=1e-10)
    assert np.linalg.norm(got) == pytest.approx(1.0)


def test_gate_sensitivity_is_a_mean_over_batches_shape_h(impl):
    rng = np.random.default_rng(3)
    grads = rng.standard_normal((7, 5))
    got = np.asarray(impl.gate_sensitivity(grads), dtype=np.float64)
    assert got.shape == (5,), f"one importance per head: shape (H,), got {got.shape}"
    importance = np.array([np.mean([abs(g) for g in grads[:, h]]) for h in range(5)])
    np.testing.assert_allclose(got, importance / np.sqrt(np.sum(importance ** 2)), rtol=1e-10)


def test_gate_sensitivity_of_zero_gradients_is_zero_not_nan(impl):
    got = np.asarray(impl.gate_sensitivity(np.zeros((3, 4))), dtype=np.float64)
    assert got.shape == (4,) and np.all(got == 0), "no gradient: importance 0 (do not divide by a zero norm)"


# ---------------------------------------------------------------------------------------------- 12.3 fedavg
def call_recording_warnings(function, *args, **kwargs):
    """(result, warnings raised) — the call happens outside any pytest.warns block, so an exception surfaces."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, caught


def states(*values):
    return [{"w": np.array(v, dtype=np.float64), "b": np.array([float(np.sum(v))])} for v in values]


def test_fedavg_weighted_by_client_size(impl):
    clients = states([0.0, 4.0], [8.0, 0.0])
    out = impl.fedavg(clients, [3, 1])
    np.testing.assert_allclose(out["w"], [(3 * 0 + 1 * 8) / 4, (3 * 4 + 0) / 4],
                               err_msg="Σ n_k w_k / Σ n_k: the client with 3 samples counts 3 times as much")
    np.testing.assert_allclose(out["b"], [(3 * 4 + 8) / 4])


def test_fedavg_weights_sum_to_one(impl):
    clients = states([1.0, 1.0], [1.0, 1.0], [1.0, 1.0])
    out = impl.fedavg(clients, [10, 20, 70])
    np.testing.assert_allclose(out["w"], [1.0, 1.0], err_msg="identical clients average to themselves "
                                                            "(divide by the total number of samples)")


def test_fedavg_three_clients_against_a_loop(impl):
    rng = np.random.default_rng(4)
    clients = [{"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)} for _ in range(3)]
    sizes = [5, 1, 14]
    out = impl.fedavg(clients, sizes)
    assert set(out) == {"w", "b"}
    for key in ("w", "b"):
        expected = np.zeros_like(clients[0][key])
        for client, n in zip(clients, sizes):
            expected += n * client[key]
        np.testing.assert_allclose(out[key], expected / sum(sizes), rtol=1e-10)


def test_fedavg_keeps_the_dtype(impl):
    clients = [{"w": np.array([1.0, 2.0], dtype=np.float32)}, {"w": np.array([3.0, 4.0], dtype=np.float32)}]
    out = impl.fedavg(clients, [1, 1])
    assert np.asarray(out["w"]).dtype == np.float32, "the average has the clients' dtype"
    np.testing.assert_allclose(out["w"], [2.0, 3.0])


def test_fedavg_skips_a_client_that_dropped_out(impl):
    clients = states([2.0, 2.0], [4.0, 0.0])
    out, caught = call_recording_warnings(impl.fedavg, [clients[0], None, clients[1]], [1, 50, 1])
    assert caught, "warn (warnings.warn) when a client is skipped"
    np.testing.assert_allclose(out["w"], [3.0, 1.0],
                               err_msg="a None update is skipped, and its size does not count either")


@pytest.mark.parametrize("bad", [{"w": np.array([np.nan, 1.0]), "b": np.array([1.0])},
                                 {"w": np.array([np.inf, 1.0]), "b": np.array([1.0])},
                                 {"w": np.array([1.0, 1.0, 1.0]), "b": np.array([1.0])},
                                 {"w": np.array([1.0, 1.0])},
                                 {"w": np.array([1.0, 1.0]), "b": np.array([1.0]), "c": np.array([1.0])}],
                         ids=["nan", "inf", "wrong-shape", "missing-key", "extra-key"])
def test_fedavg_skips_corrupt_or_misshapen_updates(impl, bad):
    reference = {"w": np.zeros(2), "b": np.zeros(1)}
    good = states([2.0, 2.0], [4.0, 0.0])
    out, caught = call_recording_warnings(impl.fedavg, [good[0], bad, good[1]], [1, 10, 3], reference=reference)
    assert caught, "warn (warnings.warn) when a client is skipped"
    assert set(out) == {"w", "b"}
    np.testing.assert_allclose(out["w"], [(2 + 12) / 4, 2 / 4],
                               err_msg="the bad client is skipped and the others are weighted by 1 and 3 of 4")
    np.testing.assert_allclose(out["b"], [(4 + 12) / 4])


def test_fedavg_valid_clients_raise_no_warning(impl):
    reference = {"w": np.zeros(2), "b": np.zeros(1)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = impl.fedavg(states([1.0, 3.0], [3.0, 1.0]), [1, 1], reference=reference)
    np.testing.assert_allclose(out["w"], [2.0, 2.0])


def test_fedavg_with_no_valid_client_raises(impl):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            impl.fedavg([None, None], [1, 2])
