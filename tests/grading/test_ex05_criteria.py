"""Grader for exercise 05 (lesson 05, pruning criteria): the first-order Taylor score, Hutchinson's diagonal
estimator and the single-weight OBS saliency and update.

Expected values come from hand computations and from independent checks written here:
- Taylor: |w · g| by hand, with signs chosen so that forgetting the |·|, squaring, or using |g| or |w| alone
  gives different numbers;
- Hutchinson: the matvec handed to the student's code *records* every probe vector, so the answer is compared
  with the average of v ⊙ Hv over exactly the draws it made, whatever way it drew them; the probes must be
  Rademacher (±1: exact for a diagonal matrix with one sample, unlike Gaussian probes), fresh for every sample
  and drawn from the given ``rng``;
- OBS: the saliency must equal the loss increase ½ δᵀHδ of the returned update, the update must zero w_q, and no
  other update that zeroes w_q may do better (the constrained minimum, solved here with ``np.linalg.solve``).
"""
import numpy as np
import pytest

pytestmark = pytest.mark.ex05


# ---------------------------------------------------------------------------------------------- 05.1 taylor_scores
def test_taylor_scores_by_hand(impl):
    w = np.array([2.0, -3.0, 0.5, -1.0])
    g = np.array([0.5, 1.0, -4.0, -0.25])
    # |w·g| = 1, 3, 2, 0.25 — (w·g)² would be 1, 9, 4, 1/16; |g| alone 0.5, 1, 4, 0.25; w·g signed 1, −3, −2, 0.25
    np.testing.assert_allclose(impl.taylor_scores(w, g), [1.0, 3.0, 2.0, 0.25])


def test_taylor_scores_keep_the_weight_shape(impl):
    rng = np.random.default_rng(0)
    w, g = rng.standard_normal((3, 2, 2, 2)), rng.standard_normal((3, 2, 2, 2))
    scores = impl.taylor_scores(w, g)
    assert np.shape(scores) == w.shape, "one score per weight, in the weight's shape"
    expected = np.zeros(w.shape)
    for index in np.ndindex(w.shape):
        expected[index] = abs(w[index] * g[index])
    np.testing.assert_allclose(scores, expected, rtol=1e-12)


def test_taylor_scores_are_zero_for_zero_weights_and_zero_gradients(impl):
    scores = impl.taylor_scores(np.array([0.0, 5.0, -2.0]), np.array([7.0, 0.0, -1.0]))
    np.testing.assert_allclose(scores, [0.0, 0.0, 2.0])


def test_taylor_scores_do_not_modify_their_inputs(impl):
    w, g = np.array([1.0, -2.0]), np.array([-3.0, 4.0])
    impl.taylor_scores(w, g)
    np.testing.assert_array_equal(w, [1.0, -2.0])
    np.testing.assert_array_equal(g, [-3.0, 4.0])


# ---------------------------------------------------------------------------------------------- 05.2 hutchinson
class Recorder:
    """matvec(v) = H v, remembering a copy of every probe vector v."""

    def __init__(self, h):
        self.h, self.probes = h, []

    def __call__(self, v):
        v = np.array(v, dtype=np.float64, copy=True)
        assert v.shape == (len(self.h),), f"matvec takes a flat vector of length {len(self.h)}, got shape {v.shape}"
        self.probes.append(v)
        return self.h @ v


def spd(d, seed):
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T + np.eye(d)


def test_hutchinson_averages_v_times_hv_over_its_own_draws(impl):
    h = spd(6, 0)
    record = Recorder(h)
    estimate = impl.hutchinson(record, 6, 5, np.random.default_rng(1))
    assert len(record.probes) == 5, f"one matvec per sample: expected 5 calls, got {len(record.probes)}"
    expected = np.mean([v * (h @ v) for v in record.probes], axis=0)
    assert np.shape(estimate) == (6,)
    np.testing.assert_allclose(estimate, expected, rtol=1e-10,
                               err_msg="the estimate is the mean over samples of v ⊙ (Hv)")


def test_hutchinson_probes_are_rademacher(impl):
    record = Recorder(spd(8, 2))
    impl.hutchinson(record, 8, 10, np.random.default_rng(3))
    probes = np.array(record.probes)
    assert np.all(np.abs(probes) == 1), f"Rademacher entries are ±1, got e.g. {probes.ravel()[:4]}"
    assert (probes > 0).any() and (probes < 0).any(), "both signs must occur"


def test_hutchinson_is_exact_for_a_diagonal_matrix_with_one_sample(impl):
    # v_q² = 1 for Rademacher probes, so v ⊙ Dv = diag(D) whatever the draw (a Gaussian probe gives v_q² d_q)
    d = np.array([3.0, -1.0, 0.5, 2.0, 7.0])
    for seed in range(3):
        estimate = impl.hutchinson(lambda v: d * v, 5, 1, np.random.default_rng(seed))
        np.testing.assert_allclose(estimate, d, rtol=1e-12)


def test_hutchinson_draws_a_fresh_probe_for_every_sample(impl):
    record = Recorder(spd(16, 4))
    impl.hutchinson(record, 16, 6, np.random.default_rng(5))
    distinct = {tuple(v) for v in record.probes}
    assert len(distinct) > 1, "every sample needs its own random vector"


def test_hutchinson_draws_from_the_given_rng(impl):
    h = spd(6, 6)
    first = impl.hutchinson(lambda v: h @ v, 6, 4, np.random.default_rng(7))
    again = impl.hutchinson(lambda v: h @ v, 6, 4, np.random.default_rng(7))
    other = impl.hutchinson(lambda v: h @ v, 6, 4, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again, err_msg="the same rng seed must give the same estimate")
    assert not np.allclose(first, other), "a different rng must give different draws (use the rng argument)"


def test_hutchinson_converges_to_the_diagonal(impl):
    # variance of one sample's estimate of H_qq: Σ_{j≠q} H_qj²; 3000 samples, 5 standard errors
    h = spd(5, 9)
    samples = 3000
    estimate = impl.hutchinson(lambda v: h @ v, 5, samples, np.random.default_rng(10))
    standard_error = np.sqrt(((h ** 2).sum(axis=1) - np.diag(h) ** 2) / samples)
    assert np.all(np.abs(estimate - np.diag(h)) < 5 * standard_error), (estimate, np.diag(h))


# ---------------------------------------------------------------------------------------------- 05.3 obs_update
def test_obs_update_by_hand(impl):
    # H = [[2, 1], [1, 2]], H⁻¹ = [[2, −1], [−1, 2]] / 3; remove w_0 = 2 from w = (2, 1):
    # saliency = 2² / (2 · 2/3) = 3, δ = −(2 / (2/3)) · (2/3, −1/3) = (−2, 1), so w + δ = (0, 2)
    hinv = np.array([[[2.0, -1.0], [-1.0, 2.0]]]) / 3
    saliency, delta = impl.obs_update(np.array([[2.0, 1.0]]), hinv, np.array([0]))
    np.testing.assert_allclose(saliency, [3.0])
    np.testing.assert_allclose(delta, [[-2.0, 1.0]])


def rows_problem(seed=0, rows=4, d=5):
    rng = np.random.default_rng(seed)
    hessians = np.array([spd(d, seed * 10 + r) for r in range(rows)])  # each row its own H
    w = rng.standard_normal((rows, d))
    q = np.array([1, 4, 0, 2])[:rows]                                 # each row its own weight to remove
    return w, hessians, q


def test_obs_update_zeroes_the_removed_weight_of_every_row(impl):
    w, hessians, q = rows_problem()
    saliency, delta = impl.obs_update(w, np.linalg.inv(hessians), q)
    assert np.shape(saliency) == (4,) and np.shape(delta) == (4, 5)
    new = w + delta
    np.testing.assert_allclose(new[np.arange(4), q], 0, atol=1e-12, err_msg="(w + δ)_q must be exactly 0")


def test_obs_update_saliency_is_the_loss_increase_of_the_update(impl):
    # the quadratic loss ½ δᵀ H δ of the returned update, for each row with its own H
    w, hessians, q = rows_problem(1)
    saliency, delta = impl.obs_update(w, np.linalg.inv(hessians), q)
    increase = [0.5 * delta[r] @ hessians[r] @ delta[r] for r in range(4)]
    np.testing.assert_allclose(saliency, increase, rtol=1e-9)


def test_obs_update_is_the_best_update_that_removes_the_weight(impl):
    # minimise ½ δᵀHδ subject to δ_q = −w_q: the other entries solve H_{−q,−q} δ_{−q} = −H_{−q,q} δ_q
    w, hessians, q = rows_problem(2)
    saliency, delta = impl.obs_update(w, np.linalg.inv(hessians), q)
    for r in range(4):
        h, others = hessians[r], np.arange(5) != q[r]
        best = np.zeros(5)
        best[q[r]] = -w[r, q[r]]
        best[others] = np.linalg.solve(h[np.ix_(others, others)], -h[others, q[r]] * best[q[r]])
        np.testing.assert_allclose(delta[r], best, rtol=1e-9, atol=1e-12)
        assert saliency[r] == pytest.approx(0.5 * best @ h @ best, rel=1e-9)


def test_obs_update_does_not_modify_its_inputs(impl):
    w, hessians, q = rows_problem(3)
    hinv = np.linalg.inv(hessians)
    w_copy, hinv_copy = w.copy(), hinv.copy()
    impl.obs_update(w, hinv, q)
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(hinv, hinv_copy)
