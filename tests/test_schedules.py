"""Tests of minprune/prune/schedules.py: TF-MOT's schedule semantics, the Pruner callback, prune_to_sparsity,
iterative pruning and sensitivity scans.

Every schedule is checked at every step of a range against TF-MOT's rules written out here, in float64:

    p = clip((t − begin) / (end − begin), 0, 1),     s_t = s_f + (s_i − s_f)(1 − p)^power
    prune at t  ⇔  t ≥ begin  and  (t ≤ end or end = −1)  and  (t − begin) % frequency == 0

(the library computes s_t in float32, as TensorFlow, hence a relative tolerance of 1e-6). Masks are compared
with naive sorts over (score, index) pairs, which share nothing with the library's argpartition.
"""
import numpy as np
import pytest

from minprune import data, models, nn, optim, prune, train
from minprune.prune import schedules as S
from minprune.prune.base import trainable_parameter


# ---------------------------------------------------------------------------------------------- helpers
def tfmot_sparsity(t, initial, final, begin, end, power):
    p = min(1.0, max(0.0, (t - begin) / (end - begin)))
    return final + (initial - final) * (1.0 - p) ** power


def tfmot_should_prune(t, begin, end, frequency):
    return t >= begin and (t <= end or end == -1) and (t - begin) % frequency == 0


def small_model(seed=0):
    return models.mlp([8, 16, 12, 3], rng=np.random.default_rng(seed), flatten=False)


def blob_loader(n=320, batch_size=16, seed=0):
    return data.DataLoader(data.blobs(n, centers=3, dim=8, rng=seed), batch_size=batch_size, shuffle=True,
                           rng=seed)


def weight_pairs(model):
    return S.prunable_pairs(model)


def masks_of(model):
    return [S.current_mask(m, n).copy() for m, n in weight_pairs(model)]


def total_weights(model):
    return sum(S.current_mask(m, n).size for m, n in weight_pairs(model))


def zeros_of(model):
    return sum(int((S.current_mask(m, n) == 0).sum()) for m, n in weight_pairs(model))


class Spy(train.Callback):
    """Placed after the Pruner: records the step, every mask and every effective weight after each step."""

    def __init__(self, model):
        self.model, self.steps, self.masks, self.orig = model, [], [], []

    def on_step_end(self, state):
        self.steps.append(state.step)
        self.masks.append(masks_of(self.model))
        self.orig.append([trainable_parameter(m, n).data.copy() for m, n in weight_pairs(self.model)])


# ---------------------------------------------------------------------------------------------- schedule values
@pytest.mark.parametrize("initial, final, begin, end, power, frequency", [
    (0.0, 0.9, 0, 100, 3, 10),       # the usual GMP: end is a pruning turn
    (0.1, 0.8, 10, 50, 3, 7),        # end (50) is not a turn: (50 − 10) % 7 = 5
    (0.2, 0.6, 5, 6, 3, 1),          # the shortest ramp
    (0.0, 0.5, 3, 40, 1 / 3, 4),     # power 1/3: slow first, fast late
    (0.0, 0.75, 0, 64, 1, 1),        # power 1 (Linear)
    (0.5, 0.1, 2, 30, 2, 3),         # a decreasing schedule is allowed, as in TF-MOT
])
def test_polynomial_decay_matches_tfmot_at_every_step(initial, final, begin, end, power, frequency):
    schedule = S.PolynomialDecay(initial, final, begin, end, power=power, frequency=frequency)
    for t in range(0, end + 3 * frequency + 5):
        should, sparsity = schedule(t)
        assert should == tfmot_should_prune(t, begin, end, frequency), f"step {t}"
        assert sparsity == pytest.approx(tfmot_sparsity(t, initial, final, begin, end, power), rel=1e-6, abs=1e-7), \
            f"step {t}"


def test_polynomial_decay_edges():
    schedule = S.PolynomialDecay(0.1, 0.9, begin_step=10, end_step=30, frequency=5)
    assert schedule(9) == (False, pytest.approx(0.1))      # before begin: the initial sparsity, no pruning
    assert schedule(10) == (True, pytest.approx(0.1))      # begin is a turn, still at the initial sparsity
    assert schedule(30) == (True, pytest.approx(0.9))      # end is a turn, at the final sparsity
    assert schedule(35) == (False, pytest.approx(0.9))     # past end: final, never prunes again
    assert schedule(10**6) == (False, pytest.approx(0.9))
    # power 3 prunes fast early: half-way the sparsity is 0.9 − 0.8/8 = 0.8
    assert schedule(20)[1] == pytest.approx(0.8, rel=1e-6)


def test_polynomial_decay_sparsity_function_matches_the_formula():
    for t in range(-5, 70):
        for power in (1, 2, 3, 1 / 3):
            got = S.polynomial_decay_sparsity(t, 0.05, 0.95, 7, 57, power)
            assert got == pytest.approx(tfmot_sparsity(t, 0.05, 0.95, 7, 57, power), rel=1e-6, abs=1e-7)
            assert isinstance(got, float)


def test_linear_is_power_one():
    schedule, reference = S.Linear(0.0, 0.6, 4, 24, frequency=2), S.PolynomialDecay(0.0, 0.6, 4, 24, 1, 2)
    for t in range(40):
        assert schedule(t) == reference(t)
        assert schedule(t)[1] == pytest.approx(tfmot_sparsity(t, 0.0, 0.6, 4, 24, 1), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("begin, end, frequency", [(0, 20, 5), (3, 17, 4), (5, -1, 3), (0, -1, 1), (7, 7, 2)])
def test_constant_sparsity_matches_tfmot(begin, end, frequency):
    schedule = S.ConstantSparsity(0.6, begin, end, frequency)
    for t in range(60):
        assert schedule(t) == (tfmot_should_prune(t, begin, end, frequency), 0.6), f"step {t}"


def test_constant_sparsity_end_minus_one_prunes_forever():
    schedule = S.ConstantSparsity(0.3, begin_step=5, end_step=-1, frequency=3)
    far = 5 + 3 * 10**6
    assert schedule(far) == (True, 0.3)
    assert schedule(far + 1) == (False, 0.3)


def test_one_shot_prunes_exactly_once():
    schedule = S.OneShot(0.7, step=4)
    assert [t for t in range(100) if schedule(t)[0]] == [4]
    assert schedule.curve(range(10)).tolist() == [0.7] * 10
    assert [t for t in range(10) if S.OneShot(0.5)(t)[0]] == [0]


def test_steps_is_the_seeds_recipe():
    schedule = S.Steps([0.1, 0.2, 0.3], every=5, begin_step=2)
    expected = [0.0] * 2 + [0.1] * 5 + [0.2] * 5 + [0.3] * 10
    assert [schedule(t)[1] for t in range(22)] == expected
    assert [t for t in range(200) if schedule(t)[0]] == [2, 7, 12]
    assert schedule.end_step == 12
    single = S.Steps([0.4], every=3)
    assert [t for t in range(20) if single(t)[0]] == [0] and single(10)[1] == 0.4


def test_curve_gives_the_sparsity_at_each_step():
    schedule = S.PolynomialDecay(0.0, 0.8, 0, 10, frequency=1)
    curve = schedule.curve(range(12))
    np.testing.assert_allclose(curve, [tfmot_sparsity(t, 0.0, 0.8, 0, 10, 3) for t in range(12)], rtol=1e-6,
                               atol=1e-7)


@pytest.mark.parametrize("make, match", [
    (lambda: S.ConstantSparsity(1.0, 0), "target_sparsity"),
    (lambda: S.ConstantSparsity(-0.1, 0), "target_sparsity"),
    (lambda: S.ConstantSparsity(0.5, begin_step=-1), "begin_step"),
    (lambda: S.ConstantSparsity(0.5, begin_step=10, end_step=5), "end_step"),
    (lambda: S.ConstantSparsity(0.5, 0, end_step=-2), "end_step"),
    (lambda: S.ConstantSparsity(0.5, 0, frequency=0), "frequency"),
    (lambda: S.ConstantSparsity(0.5, 0, frequency=-3), "frequency"),
    (lambda: S.PolynomialDecay(0.0, 1.0, 0, 10), "final_sparsity"),
    (lambda: S.PolynomialDecay(-0.2, 0.5, 0, 10), "initial_sparsity"),
    (lambda: S.PolynomialDecay(0.0, 0.5, 0, -1), "end_step"),
    (lambda: S.PolynomialDecay(0.0, 0.5, 10, 10), "end_step"),
    (lambda: S.PolynomialDecay(0.0, 0.5, 10, 5), "end_step"),
    (lambda: S.PolynomialDecay(0.0, 0.5, -1, 10), "begin_step"),
    (lambda: S.PolynomialDecay(0.0, 0.5, 0, 10, frequency=0), "frequency"),
    (lambda: S.Linear(0.0, 1.5, 0, 10), "final_sparsity"),
    (lambda: S.OneShot(1.0), "target_sparsity"),
    (lambda: S.OneShot(0.5, step=-1), "begin_step"),
    (lambda: S.Steps([0.3, 0.2], every=5), "decrease"),
    (lambda: S.Steps([], every=5), "at least one"),
    (lambda: S.Steps([0.1, 1.0], every=5), r"levels\[1\]"),
    (lambda: S.Steps([0.1, 0.2], every=0), "every"),
    (lambda: S.Steps([0.1, 0.2], every=-2), "every"),
    (lambda: S.Steps([0.1, 0.2], every=5, begin_step=-1), "begin_step"),
])
def test_invalid_schedules_raise_value_error_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------------------------------------- prune_to_sparsity
def naive_order(values, alive):
    """Flat indices of alive entries, smallest |value| first, lower index first among ties."""
    flat = np.abs(np.ravel(values)).astype(np.float64)
    return sorted((i for i in range(flat.size) if alive.ravel()[i]), key=lambda i: (flat[i], i))


class Holder(nn.Module):
    def __init__(self, *shapes, seed=0, integers=True):
        super().__init__()
        rng = np.random.default_rng(seed)
        for k, shape in enumerate(shapes):
            values = rng.integers(-4, 5, size=shape) if integers else rng.standard_normal(shape)
            self.register_parameter(f"w{k}", nn.Parameter(values.astype(np.float32)))
        self.names = [f"w{k}" for k in range(len(shapes))]

    def pairs(self):
        return [(self, name) for name in self.names]


def test_prune_to_sparsity_local_exact_counts_and_entries():
    holder = Holder((6, 5), (4, 7), (9,))       # small integers: many ties, broken by the lower index
    values = [getattr(holder, n).data.copy() for _, n in holder.pairs()]
    S.prune_to_sparsity(holder.pairs(), 0.45, scope="local")
    for (module, name), value in zip(holder.pairs(), values):
        expected = np.ones(value.size, dtype=np.float32)
        expected[naive_order(value, np.ones(value.shape, bool))[:round(0.45 * value.size)]] = 0
        np.testing.assert_array_equal(S.current_mask(module, name).ravel(), expected)


def test_prune_to_sparsity_global_pools_all_layers():
    holder = Holder((6, 5), (4, 7), (9,), seed=3)
    pooled = np.concatenate([getattr(holder, n).data.ravel() for _, n in holder.pairs()])
    S.prune_to_sparsity(holder.pairs(), 0.6, scope="global")
    expected = np.ones(pooled.size, dtype=np.float32)
    expected[naive_order(pooled, np.ones(pooled.shape, bool))[:round(0.6 * pooled.size)]] = 0
    got = np.concatenate([S.current_mask(m, n).ravel() for m, n in holder.pairs()])
    np.testing.assert_array_equal(got, expected)


def test_prune_to_sparsity_uses_given_scores():
    holder = Holder((4, 5), seed=1, integers=False)
    (pair,) = holder.pairs()
    scores = np.arange(20, dtype=np.float64)[::-1].reshape(4, 5)   # the LAST entries score lowest
    S.prune_to_sparsity([pair], 0.25, scores={pair: scores})
    np.testing.assert_array_equal(S.current_mask(*pair).ravel(), [1] * 15 + [0] * 5)


@pytest.mark.parametrize("scope", ["local", "global"])
def test_prune_to_sparsity_structured_rows(scope):
    holder = Holder((10, 6), (8, 4), seed=2, integers=False)
    pairs = holder.pairs()
    values = [getattr(holder, n).data.copy() for _, n in pairs]
    S.prune_to_sparsity(pairs, 0.5, scope=scope, structured=True, dim=0)
    norms = [np.sqrt((v.astype(np.float64) ** 2).sum(axis=1)) for v in values]
    if scope == "local":
        dropped = [set(np.argsort(n, kind="stable")[:round(0.5 * n.size)]) for n in norms]
    else:  # each layer's norms divided by its mean, then pooled
        pooled = np.concatenate([n / n.mean() for n in norms])
        chosen = set(np.argsort(pooled, kind="stable")[:round(0.5 * pooled.size)])
        dropped = [{i for i in range(10) if i in chosen}, {i - 10 for i in range(10, 18) if i in chosen}]
    for (module, name), value, drop in zip(pairs, values, dropped):
        mask = S.current_mask(module, name)
        rows = [i for i in range(value.shape[0]) if (mask[i] == 0).all()]
        assert set(rows) == drop
        assert ((mask == 0).all(axis=1) | (mask == 1).all(axis=1)).all(), "whole rows, not single entries"
    assert sum(len(d) for d in dropped) == (round(0.5 * 18) if scope == "global" else 5 + 4)


def test_prune_to_sparsity_is_monotone_and_never_revives():
    holder = Holder((12, 10), (7, 9), seed=4, integers=False)
    pairs = holder.pairs()
    n = sum(getattr(holder, name).size for _, name in pairs)
    previous = [np.ones(getattr(holder, name).shape, np.float32) for _, name in pairs]
    for target in (0.2, 0.5, 0.4, 0.7, 0.7, 0.0):
        S.prune_to_sparsity(pairs, target, scope="global")
        masks = [S.current_mask(m, name).copy() for m, name in pairs]
        for before, after in zip(previous, masks):
            assert (after <= before).all(), "a pruned weight came back"
        zeros = sum(int((m == 0).sum()) for m in masks)
        assert zeros == max(round(target * n), sum(int((p == 0).sum()) for p in previous))
        previous = masks
        # make the pruned weights the LARGEST: they must still stay pruned at the next target
        for (m, name), mask in zip(pairs, masks):
            getattr(m, name + "_orig").data[mask == 0] = 1e6


def test_prune_to_sparsity_ranks_only_the_alive_entries():
    holder = Holder((5, 8), seed=5, integers=False)
    (pair,) = holder.pairs()
    S.prune_to_sparsity([pair], 0.25)
    first = S.current_mask(*pair).copy()
    holder.w0_orig.data[first == 0] = 100.0     # pruned entries now look important
    alive_values = holder.w0_orig.data.copy()
    S.prune_to_sparsity([pair], 0.5)
    second = S.current_mask(*pair)
    expected = first.ravel().copy()
    expected[naive_order(alive_values, first == 1)[:20 - 10]] = 0
    np.testing.assert_array_equal(second.ravel(), expected)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sparsity=1.0), "sparsity"), (dict(sparsity=-0.1), "sparsity"),
    (dict(sparsity=0.5, scope="layer"), "scope"),
])
def test_prune_to_sparsity_rejects_bad_arguments(kwargs, match):
    holder = Holder((3, 3))
    with pytest.raises(ValueError, match=match):
        S.prune_to_sparsity(holder.pairs(), **kwargs)
    assert not prune.is_pruned(holder), "validation happens before anything is changed"


# ---------------------------------------------------------------------------------------------- the Pruner callback
def test_pruner_follows_the_schedule_and_reaches_the_target_when_end_is_not_a_turn():
    model = small_model()
    n = total_weights(model)
    schedule = S.PolynomialDecay(0.0, 0.8, begin_step=2, end_step=13, frequency=4)  # turns 2, 6, 10; end 13
    pruner, spy = S.Pruner(model, schedule), Spy(model)
    train.fit(model, blob_loader(), optim.SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=1,
              callbacks=[pruner, spy], progress=False)                               # 20 steps
    assert [step for step, _ in pruner.history] == [2, 6, 10, 13]
    for step, sparsity in pruner.history:
        assert sparsity == pytest.approx(tfmot_sparsity(step, 0.0, 0.8, 2, 13, 3), rel=1e-6, abs=1e-7)
    for step, masks in zip(spy.steps, spy.masks):
        done = [s for s, _ in pruner.history if s <= step]
        target = 0.0 if not done else dict(pruner.history)[done[-1]]
        assert sum(int((m == 0).sum()) for m in masks) == round(target * n), f"step {step}"
    assert zeros_of(model) == round(0.8 * n), "the final target is reached exactly"


def test_pruner_prunes_at_step_zero_and_local_scope_is_per_layer():
    model = small_model(1)
    pruner = S.Pruner(model, S.ConstantSparsity(0.5, begin_step=0, end_step=-1, frequency=7), scope="local")
    train.fit(model, blob_loader(seed=1), optim.SGD(model.parameters(), lr=0.05), epochs=1, callbacks=[pruner],
              progress=False)
    assert [s for s, _ in pruner.history] == [0, 7, 14]
    for module, name in weight_pairs(model):
        mask = S.current_mask(module, name)
        assert int((mask == 0).sum()) == round(0.5 * mask.size)


def test_pruner_structured_prunes_whole_rows():
    model = small_model(2)
    pruner = S.Pruner(model, S.OneShot(0.25, step=3), structured=True, dim=0, scope="local")
    train.fit(model, blob_loader(seed=2), optim.SGD(model.parameters(), lr=0.05), epochs=1, callbacks=[pruner],
              progress=False)
    for module, name in weight_pairs(model):
        mask = S.current_mask(module, name)
        dead = (mask == 0).all(axis=1)
        assert ((mask == 0).all(axis=1) | (mask == 1).all(axis=1)).all()
        assert int(dead.sum()) == round(0.25 * mask.shape[0])


@pytest.mark.parametrize("make_optimizer", [
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda p: optim.Adam(p, lr=0.01),
    lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
], ids=["sgd-momentum-wd", "nesterov", "adam", "adamw"])
def test_pruned_weights_never_revive_under_any_optimizer(make_optimizer):
    model = small_model(3)
    schedule = S.PolynomialDecay(0.0, 0.7, begin_step=1, end_step=15, frequency=2)
    pruner, spy = S.Pruner(model, schedule), Spy(model)
    train.fit(model, blob_loader(seed=3), make_optimizer(model.parameters()), epochs=2,
              callbacks=[pruner, spy], progress=False)                                # 40 steps
    for before, after in zip(spy.masks, spy.masks[1:]):
        for b, a in zip(before, after):
            assert (a <= b).all(), "a pruned weight came back"
    # the effective weights the network uses are exactly 0 where pruned, after training and in a forward pass
    model.eval()
    model(np.zeros((1, 8), np.float32))
    for (module, name), mask in zip(weight_pairs(model), spy.masks[-1]):
        assert (module.weight.data[mask == 0] == 0).all()
    # and the test has teeth: the optimizer really did keep moving weight_orig at pruned entries
    # (momentum / Adam moments / weight decay), which only the mask keeps out of the network
    first_pruned = spy.masks[2]       # after the pruning at step 3
    moved = [(o_end != o_then)[m == 0].any() for o_then, o_end, m in zip(spy.orig[2], spy.orig[-1], first_pruned)]
    assert any(moved)


def test_pruner_with_a_second_fit_continues_the_schedule():
    model = small_model(4)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    pruner = S.Pruner(model, S.Steps([0.2, 0.4, 0.6, 0.7], every=10))    # turns 0, 10, 20, 30
    loader = blob_loader(seed=4)                                           # 20 steps per epoch
    train.fit(model, loader, opt, epochs=1, callbacks=[pruner], progress=False)
    assert [s for s, _ in pruner.history] == [0, 10, 20]
    # the second fit begins at step 20, already handled at the end of the first: no second pruning there
    train.fit(model, loader, opt, epochs=1, callbacks=[pruner], progress=False)
    assert [s for s, _ in pruner.history] == [0, 10, 20, 30]
    assert zeros_of(model) == round(0.7 * total_weights(model))


def test_pruner_training_is_deterministic():
    def run():
        model = small_model(5)
        pruner = S.Pruner(model, S.PolynomialDecay(0.0, 0.75, 0, 12, frequency=3))
        train.fit(model, blob_loader(seed=5), optim.Adam(model.parameters(), lr=0.01), epochs=1,
                  callbacks=[pruner], progress=False)
        return model.state_dict()
    first, second = run(), run()
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_pruner_with_a_criterion():
    model = small_model(6)
    calls = []

    def reverse_magnitude(m):       # keeps the SMALLEST weights: shows the criterion is what ranks
        calls.append(1)
        return {(mod, n): 1.0 / (1e-6 + np.abs(S.current_mask(mod, n) * mod.weight_orig.data))
                for mod, n in weight_pairs(m)}

    S.prune_to_sparsity(weight_pairs(model), 0.0)  # re-parametrise so the criterion can read weight_orig
    values = [m.weight_orig.data.copy() for m, _ in weight_pairs(model)]
    pruner = S.Pruner(model, S.OneShot(0.5), criterion=reverse_magnitude, scope="local")
    pruner.on_train_begin(train.TrainerState(model=model, optimizer=None, step=0))
    assert calls == [1]
    for (module, name), value in zip(weight_pairs(model), values):
        mask = S.current_mask(module, name)
        assert np.abs(value[mask == 0]).min() >= np.abs(value[mask == 1]).max()


# ---------------------------------------------------------------------------------------------- experiments
def test_iterative_prune_history_and_fine_tune_order():
    model = small_model(7)
    loader, evaluation = blob_loader(seed=7), blob_loader(seed=8)
    train.fit(model, loader, optim.SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=2, progress=False)
    n = total_weights(model)
    seen = []

    def fine_tune(m):
        seen.append(zeros_of(m))
        train.fit(m, loader, optim.SGD(m.parameters(), lr=0.02), epochs=1, progress=False)

    history = S.iterative_prune(model, [0.1, 0.2, 0.3], fine_tune, evaluation)
    assert seen == [round(r * n) for r in (0.1, 0.2, 0.3)], "fine-tuning happens after each pruning step"
    assert [h["sparsity"] for h in history] == [0.1, 0.2, 0.3]
    for h in history:
        assert 0 <= h["accuracy_pruned"] <= 1 and 0 <= h["accuracy"] <= 1
    assert history[-1]["accuracy"] == train.evaluate(model, evaluation).accuracy
    assert zeros_of(model) == round(0.3 * n)


def test_sensitivity_scan_leaves_the_model_untouched():
    model = small_model(8)
    loader = blob_loader(seed=9)
    train.fit(model, loader, optim.SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=2, progress=False)
    before = model.state_dict()
    base = train.evaluate(model, loader).accuracy
    curves = S.sensitivity_scan(model, loader, sparsities=(0.0, 0.5, 0.95))
    assert list(curves) == ["0.weight", "2.weight", "4.weight"]
    for accuracies in curves.values():
        assert len(accuracies) == 3 and accuracies[0] == base
    assert not prune.is_pruned(model)
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


def test_pruner_does_not_touch_an_unlisted_layer():
    model = small_model(9)
    first = model[0]
    pruner = S.Pruner(model, S.OneShot(0.5), parameters=[(first, "weight")])
    train.fit(model, blob_loader(seed=10), optim.SGD(model.parameters(), lr=0.05), epochs=1, callbacks=[pruner],
              progress=False)
    assert int((S.current_mask(first, "weight") == 0).sum()) == round(0.5 * first.weight.size)
    assert not prune.is_pruned(model[2]) and not prune.is_pruned(model[4])
