"""Tests of minprune/prune/dynamic.py: movement pruning, DropConnect/WeightDrop, Erdős–Rényi densities, SET and
RigL (constant per-layer counts, regrown weights at exactly 0 with fresh optimizer state, RigL's cosine).

Expected values are computed here independently: movement scores by hand on a model whose loss is linear in
the weights (so every gradient is known in closed form), drop/grow choices by stable argsorts.
"""
import math

import numpy as np
import pytest

import minprune as mp
from minprune import data, models, nn, optim, prune, train
from minprune.prune import dynamic as D
from minprune.prune import schedules as S
from minprune.prune.base import trainable_parameter


def blob_loader(dim=10, n=320, batch_size=16, seed=0):
    return data.DataLoader(data.blobs(n, centers=4, dim=dim, rng=seed), batch_size=batch_size, shuffle=True,
                           rng=seed)


def small_model(seed=0):
    return models.mlp([10, 24, 24, 4], rng=np.random.default_rng(seed), flatten=False)


def counts(pairs):
    return [int(S.current_mask(m, n).sum()) for m, n in pairs]


# ---------------------------------------------------------------------------------------------- movement pruning
def test_movement_score_update_by_hand():
    scores = np.array([[0.5, -1.0], [0.0, 2.0]])
    weight = np.array([[2.0, -1.0], [3.0, 0.5]])
    grad = np.array([[-1.0, -2.0], [0.5, 4.0]])
    before = (scores.copy(), weight.copy(), grad.copy())
    got = D.movement_score_update(scores, weight, grad)
    # S − g ⊙ W: moving away from zero (w = 2 pushed up by g = −1) gains; w = −1 pushed up towards 0 loses
    np.testing.assert_allclose(got, [[0.5 + 2.0, -1.0 - 2.0], [0.0 - 1.5, 2.0 - 2.0]])
    for a, b in zip((scores, weight, grad), before):
        np.testing.assert_array_equal(a, b)


class LinearLossModel:
    """A bias-free Linear(3, 2) with the loss L = Σ C ⊙ (X Wᵀ): ∂L/∂W = Cᵀ X for every W (known by hand)."""

    X = np.array([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0]], dtype=np.float32)
    C = np.array([[1.0, -0.5], [0.25, 2.0]], dtype=np.float32)
    W0 = np.array([[0.3, -0.2, 0.8], [-0.6, 0.1, 0.4]], dtype=np.float32)

    def __init__(self):
        self.model = nn.Sequential(nn.Linear(3, 2, bias=False))
        self.model[0].weight.data = self.W0.copy()
        self.loader = data.DataLoader((self.X, np.array([0, 1])), batch_size=2)   # one step per epoch
        self.G = (self.C.T @ self.X).astype(np.float64)

    def loss(self, out, y):
        return (out * self.C).sum()


def test_movement_pruning_scores_accumulate_minus_g_times_w_and_use_the_dense_gradient():
    case = LinearLossModel()
    layer = case.model[0]
    lr = 0.1
    # prune to 50 % once, at step 3; train 5 steps
    mover = D.MovementPruning(case.model, S.ConstantSparsity(0.5, begin_step=3, end_step=3, frequency=1))
    train.fit(case.model, case.loader, optim.SGD(case.model.parameters(), lr=lr), epochs=5, loss_fn=case.loss,
              callbacks=[mover], progress=False)
    # by hand: S_t+1 = S_t − G ⊙ W_t with the *dense* gradient G = ∂L/∂W' of the effective weight, for every
    # entry (pruned ones too); W moves by −lr·G·mask (a pruned entry's weight_orig gets no gradient)
    w, scores, mask = case.W0.astype(np.float64), np.zeros((2, 3)), np.ones((2, 3))
    for step in range(1, 6):
        scores = scores - case.G * w
        w = w - lr * case.G * mask
        if step == 3:
            mask = np.ones(6)
            mask[np.argsort(scores.ravel(), kind="stable")[:3]] = 0
            mask = mask.reshape(2, 3)
    np.testing.assert_allclose(mover.scores[(layer, "weight")], scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(S.current_mask(layer, "weight"), mask)
    np.testing.assert_allclose(trainable_parameter(layer, "weight").data, w, rtol=1e-5, atol=1e-6)


def test_movement_pruning_hard_keeps_the_top_scores_at_each_turn():
    model = small_model(1)
    pairs = S.prunable_pairs(model)
    schedule = S.PolynomialDecay(0.0, 0.8, begin_step=0, end_step=12, frequency=4)
    mover = D.MovementPruning(model, schedule, scope="global")

    class Check(train.Callback):
        turns = []

        def on_step_end(self, state):
            should, sparsity = schedule(state.step)
            if not should:
                return
            pooled = np.concatenate([mover.scores[p].ravel() for p in pairs])
            keep = np.ones(pooled.size)   # the lowest scores go; among ties the lower index goes first
            keep[np.argsort(pooled, kind="stable")[:round(sparsity * pooled.size)]] = 0
            got = np.concatenate([S.current_mask(*p).ravel() for p in pairs])
            np.testing.assert_array_equal(got, keep)
            self.turns.append(state.step)

    train.fit(model, blob_loader(seed=1), optim.SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=1,
              callbacks=[mover, Check()], progress=False)
    assert Check.turns == [4, 8, 12]
    total = sum(S.current_mask(*p).size for p in pairs)
    assert total - sum(counts(pairs)) == round(0.8 * total)


def test_movement_pruning_soft_keeps_scores_above_the_threshold():
    case = LinearLossModel()
    mover = D.MovementPruning(case.model, mode="soft", threshold=0.05)
    train.fit(case.model, case.loader, optim.SGD(case.model.parameters(), lr=0.0), epochs=1, loss_fn=case.loss,
              callbacks=[mover], progress=False)
    scores = -case.G * case.W0
    np.testing.assert_array_equal(S.current_mask(case.model[0], "weight"), (scores > 0.05).astype(np.float32))


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="medium", schedule=S.OneShot(0.5)), "mode"),
    (dict(mode="hard"), "schedule"),
    (dict(schedule=S.OneShot(0.5), scope="layer"), "scope"),
])
def test_movement_pruning_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.MovementPruning(small_model(), **kwargs)


# ---------------------------------------------------------------------------------------------- DropConnect
def test_weight_drop_fresh_scaled_mask_per_training_forward_none_in_eval():
    layer = nn.Linear(40, 30, rng=np.random.default_rng(0))
    w, b = layer.weight.data.copy(), layer.bias.data.copy()
    D.weight_drop(layer, "weight", p=0.3, rng=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((5, 40)).astype(np.float32)
    layer.train()
    effective = []
    for _ in range(400):
        out = layer(x)
        eff = layer.weight.data.copy()
        kept = eff != 0
        np.testing.assert_allclose(eff[kept], w[kept] / 0.7, rtol=1e-6)      # scaled by 1 / (1 − p)
        np.testing.assert_allclose(out.data, x @ eff.T + b, rtol=1e-5, atol=1e-5)
        effective.append(eff)
    assert not np.array_equal(effective[0], effective[1]), "a fresh mask at every training forward"
    dropped = np.mean([(e == 0).mean() for e in effective])
    assert abs(dropped - 0.3) < 0.01
    # expectation preserved: the average effective weight is the weight (std of the mean ≈ 3 % of |w| here)
    mean = np.mean(effective, axis=0)
    assert np.abs(mean - w).mean() < 0.05 * np.abs(w).mean()
    layer.eval()
    np.testing.assert_allclose(layer(x).data, x @ w.T + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.weight.data, w)


def test_weight_drop_gradient_reaches_only_the_kept_weights():
    layer = nn.Linear(6, 4, rng=np.random.default_rng(0))
    D.weight_drop(layer, p=0.5, rng=np.random.default_rng(3))
    layer.train()
    x = np.random.default_rng(4).standard_normal((3, 6)).astype(np.float32)
    layer(x).sum().backward()
    eff, grad = layer.weight.data, trainable_parameter(layer, "weight").grad
    expected = np.tile(x.sum(axis=0), (4, 1)) * (eff != 0) / 0.5        # ∂/∂orig of Σ x (orig ⊙ keep / 0.5)ᵀ
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_weight_drop_keeps_pruned_weights_pruned_and_p0_is_identity():
    layer = nn.Linear(8, 5, rng=np.random.default_rng(0))
    prune.l1_unstructured(layer, "weight", amount=0.5)
    mask = layer.weight_mask.copy()
    D.weight_drop(layer, p=0.2, rng=np.random.default_rng(0))
    layer.train()
    for _ in range(20):
        layer(np.ones((1, 8), np.float32))
        assert (layer.weight.data[mask == 0] == 0).all()
    plain = nn.Linear(8, 5, rng=np.random.default_rng(1))
    w = plain.weight.data.copy()
    D.weight_drop(plain, p=0.0)
    plain.train()
    plain(np.ones((1, 8), np.float32))
    np.testing.assert_array_equal(plain.weight.data, w)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_weight_drop_rejects_bad_p(p):
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="p"):
        D.weight_drop(layer, p=p)
    assert not prune.is_pruned(layer)


def test_weight_drop_is_deterministic_from_a_seed():
    def masks(seed):
        layer = nn.Linear(10, 10, rng=np.random.default_rng(0))
        D.weight_drop(layer, p=0.4, rng=np.random.default_rng(seed))
        layer.train()
        result = []
        for _ in range(3):
            layer(np.ones((1, 10), np.float32))
            result.append(layer.weight.data.copy())
        return result
    for a, b in zip(masks(7), masks(7)):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------- Erdős–Rényi
def test_erdos_renyi_densities_lenet300_100():
    model = models.LeNet300_100(rng=np.random.default_rng(0))
    pairs = S.prunable_pairs(model)
    sizes = np.array([784 * 300, 300 * 100, 100 * 10])
    densities = np.array(D.erdos_renyi_densities(pairs, 0.1))
    assert densities @ sizes == pytest.approx(0.1 * sizes.sum(), rel=1e-12)       # the requested overall density
    assert densities[2] == 1.0                                                     # the small output layer: dense
    # the others ∝ (n_in + n_out) / (n_in · n_out)
    assert densities[0] / densities[1] == pytest.approx(((784 + 300) / (784 * 300)) / ((300 + 100) / (300 * 100)))


@pytest.mark.parametrize("kernel", [True, False])
def test_erdos_renyi_kernel_on_convolutions(kernel):
    model = models.LeNet5(rng=np.random.default_rng(0))
    pairs = S.prunable_pairs(model)
    shapes = [m.weight.shape for m, _ in pairs]
    sizes = np.array([np.prod(s) for s in shapes], dtype=float)
    densities = np.array(D.erdos_renyi_densities(pairs, 0.2, kernel=kernel))
    assert densities @ sizes == pytest.approx(0.2 * sizes.sum(), rel=1e-12)
    assert (densities <= 1).all() and (densities > 0).all()
    dims = [s if kernel else s[:2] for s in shapes]
    raw = np.array([sum(d) / np.prod(d) for d in dims])
    sparse = densities < 1
    ratios = densities[sparse] / raw[sparse]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)                     # one common ε
    assert (raw[~sparse] * ratios[0] >= 1).all()                                   # dense only when ε·raw ≥ 1


def test_erdos_renyi_full_density_is_dense():
    pairs = S.prunable_pairs(small_model())
    assert D.erdos_renyi_densities(pairs, 1.0) == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------------------------------------- SET / RigL
class Watch(train.Callback):
    """Wraps a SET/RigL callback and checks every connectivity update it makes, around its on_after_backward."""

    def __init__(self, dst, optimizer, naive_grow=None):
        self.dst, self.optimizer, self.naive_grow = dst, optimizer, naive_grow
        self.updates, self.last_grown = [], None

    def _arrays(self, param):
        return {k: v.copy() for k, v in self.optimizer.state.get(param, {}).items()
                if isinstance(v, np.ndarray) and v.shape == param.shape}

    def on_after_backward(self, state):
        pairs = self.dst.parameters
        params = [trainable_parameter(m, n) for m, n in pairs]
        masks = [S.current_mask(m, n).copy() for m, n in pairs]
        origs = [p.data.copy() for p in params]
        states = [self._arrays(p) for p in params]
        grads = [D.dense_gradient(m, n).copy() for m, n in pairs]
        self.dst.on_after_backward(state)
        self.last_grown = []
        for (m, n), p, mask, orig, st, grad in zip(pairs, params, masks, origs, states, grads):
            new = S.current_mask(m, n)
            grown, dropped = (new == 1) & (mask == 0), (new == 0) & (mask == 1)
            assert new.sum() == mask.sum(), "the layer's number of active weights changed"
            assert grown.sum() == dropped.sum()
            self.last_grown.append((p, grown))
            if not grown.any():
                continue
            self.updates.append((state.step, grown.sum(), (orig[grown] != 0).any()))
            # regrown weights start at exactly 0; every other weight is untouched
            assert (p.data[grown] == 0).all()
            np.testing.assert_array_equal(p.data[~grown], orig[~grown])
            # their optimizer state is reset exactly there and untouched elsewhere
            after = self._arrays(p)
            assert after.keys() == st.keys() and st, "the optimizer had state to reset"
            for key in st:
                assert (after[key][grown] == 0).all(), key
                np.testing.assert_array_equal(after[key][~grown], st[key][~grown])
            # dropped: the k active weights of smallest |w| (ties: lower index)
            k = int(grown.sum())
            active = np.flatnonzero(mask.ravel())
            expected_drop = active[np.argsort(np.abs(orig.ravel()[active]), kind="stable")[:k]]
            assert set(np.flatnonzero(dropped.ravel())) == set(expected_drop)
            assert (mask.ravel()[np.flatnonzero(grown.ravel())] == 0).all(), "grown among the inactive"
            if self.naive_grow is not None:
                self.naive_grow(state.step, mask, grad, grown, k, self.dst)

    def on_step_end(self, state):
        # after the optimizer step regrown weights are still exactly 0 (they had no gradient and no momentum)
        for p, grown in self.last_grown or []:
            assert (p.data[grown] == 0).all()


def rigl_grow_check(step, mask, grad, grown, k, dst):
    """RigL grows the k inactive positions of largest |dense gradient|; k follows the cosine."""
    active = int(mask.sum())
    assert k == min(round(dst.drop_fraction(step) * active), mask.size - active)
    inactive = np.flatnonzero(mask.ravel() == 0)
    expected = inactive[np.argsort(-np.abs(grad.ravel()[inactive]), kind="stable")[:k]]
    assert set(np.flatnonzero(grown.ravel())) == set(expected)


@pytest.mark.parametrize("method", ["SET", "RigL"])
@pytest.mark.parametrize("make_optimizer", [
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
    lambda p: optim.Adam(p, lr=0.01),
], ids=["sgd-momentum", "adam"])
def test_set_rigl_constant_counts_zero_regrowth_fresh_state(method, make_optimizer):
    model = small_model(2)
    opt = make_optimizer(model.parameters())
    # density 0.5 with Erdős–Rényi makes the output layer dense: it must stay dense (nowhere to regrow)
    if method == "SET":
        dst = D.SET(model, opt, density=0.5, every=3, fraction=0.3, rng=np.random.default_rng(0))
        watch = Watch(dst, opt)
    else:
        dst = D.RigL(model, opt, density=0.5, every=3, end_step=30, fraction=0.3, rng=np.random.default_rng(0))
        watch = Watch(dst, opt, rigl_grow_check)
    pairs = dst.parameters
    assert dst.densities[-1] == 1.0
    start = counts(pairs)
    sizes = [S.current_mask(m, n).size for m, n in pairs]
    assert start == [round(d * s) for d, s in zip(dst.densities, sizes)]
    train.fit(model, blob_loader(seed=2), opt, epochs=2, callbacks=[watch], progress=False)   # 40 steps
    assert counts(pairs) == start
    steps = sorted({step for step, _, _ in watch.updates})
    expected = [t for t in range(1, 40) if t % 3 == 0 and (method == "SET" or t < 30)]
    assert steps == expected
    assert any(nonzero for _, _, nonzero in watch.updates), "some regrown weights held an old non-zero value"


def test_rigl_drop_fraction_is_a_cosine():
    model = small_model(3)
    rigl = D.RigL(model, optim.SGD(model.parameters(), lr=0.1), density=0.2, every=10, end_step=100, fraction=0.4)
    for t in (0, 10, 25, 50, 75, 90, 100):
        assert rigl.drop_fraction(t) == pytest.approx(0.4 / 2 * (1 + math.cos(math.pi * t / 100)))
    assert rigl.drop_fraction(50) == pytest.approx(0.2) and rigl.drop_fraction(100) == pytest.approx(0.0)


def test_set_grows_at_random_and_is_deterministic_from_a_seed():
    def run(seed):
        model = small_model(4)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        dst = D.SET(model, opt, density=0.3, every=2, fraction=0.3, distribution="uniform",
                    rng=np.random.default_rng(seed))
        train.fit(model, blob_loader(seed=4), opt, epochs=1, callbacks=[dst], progress=False)
        return model.state_dict()
    a, b, c = run(0), run(0), run(1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a[k], c[k]) for k in a if k.endswith("_mask"))


def test_dynamic_sparse_training_initial_masks_uniform():
    model = small_model(5)
    dst = D.SET(model, optim.SGD(model.parameters(), lr=0.1), density=0.25, distribution="uniform")
    for (m, n), d in zip(dst.parameters, dst.densities):
        mask = S.current_mask(m, n)
        assert d == 0.25 and mask.sum() == round(0.25 * mask.size)


def test_reset_optimizer_state_zeroes_only_the_given_entries():
    p = nn.Parameter(np.ones((2, 3), np.float32))
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.full((2, 3), 0.5, np.float32)
    opt.step()
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state[p].items()}
    D.reset_optimizer_state(opt, p, np.array([1, 4]))
    for key in ("exp_avg", "exp_avg_sq"):
        flat = opt.state[p][key].ravel()
        assert flat[1] == 0 and flat[4] == 0
        np.testing.assert_array_equal(np.delete(flat, [1, 4]), np.delete(before[key].ravel(), [1, 4]))
    assert opt.state[p]["step"] == before["step"]


def test_drop_and_grow_by_hand():
    mask = np.array([1, 1, 0, 1, 0, 0, 1, 0], np.float32)
    weight = np.array([0.5, -0.1, 9.0, 0.3, 0.0, 7.0, -2.0, 0.0], np.float32)
    scores = np.array([0.0, 5.0, 0.2, 0.0, 0.9, 0.1, 0.0, 0.9])
    inputs = (mask.copy(), weight.copy(), scores.copy())
    new, grown = D.drop_and_grow(mask, weight, scores, 2)
    # drop |w| = 0.1 (index 1) and 0.3 (index 3); grow among inactive 2, 4, 5, 7: scores .9, .9 → 4 and 7
    np.testing.assert_array_equal(new, [1, 0, 0, 0, 1, 0, 1, 1])
    assert sorted(np.asarray(grown).tolist()) == [4, 7]
    for a, b in zip((mask, weight, scores), inputs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, match", [
    (dict(density=0.0), "density"), (dict(density=1.5), "density"), (dict(every=0), "every"),
    (dict(distribution="normal"), "distribution"),
])
def test_dynamic_sparse_training_rejects_bad_arguments(kwargs, match):
    model = small_model()
    with pytest.raises(ValueError, match=match):
        D.SET(model, optim.SGD(model.parameters(), lr=0.1), **kwargs)


@pytest.mark.parametrize("end_step", [None, 0, -5])
def test_rigl_needs_an_end_step(end_step):
    model = small_model()
    with pytest.raises(ValueError, match="end_step"):
        D.RigL(model, optim.SGD(model.parameters(), lr=0.1), end_step=end_step)


def test_dense_gradient_is_the_gradient_of_the_effective_weight():
    layer = nn.Linear(4, 3, rng=np.random.default_rng(0))
    model = nn.Sequential(layer)
    D.MovementPruning(model, S.OneShot(0.5))           # re-parametrises and retains the dense gradient
    S.set_mask(layer, "weight", np.array([[1, 0, 1, 0]] * 3, np.float32))
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    model(mp.tensor(x)).sum().backward()
    dense = np.tile(x.sum(axis=0), (3, 1))
    np.testing.assert_allclose(D.dense_gradient(layer), dense)                            # every entry
    np.testing.assert_allclose(trainable_parameter(layer, "weight").grad, dense * layer.weight_mask)  # masked
