"""Tests of minprune/prune/lottery.py: one IMP round, lottery tickets with rewinding to step 0 and to step k,
the per-round rates (20 %, 10 % for the output layer), the random re-initialisation control, Checkpoint, and
pruning at initialisation.

The training function handed to ``lottery_ticket`` records the model's state when each round *starts* (just
after the rewind) and when it *ends* (the trained weights IMP ranks), so every rewind and every mask can be
recomputed here by a naive stable sort.
"""
import numpy as np
import pytest

from minprune import data, models, optim, prune, train
from minprune.prune import lottery as L
from minprune.prune import schedules as S

LAYERS = ["0", "2", "4"]


def blob_loader(seed=0, n=320):
    return data.DataLoader(data.blobs(n, centers=4, dim=10, rng=seed), batch_size=16, shuffle=True, rng=seed)


def small_model(seed=0):
    return models.mlp([10, 24, 24, 4], rng=np.random.default_rng(seed), flatten=False)


class Recorder:
    """``train(model, callbacks)`` for lottery_ticket: a fresh SGD per round, one epoch (20 steps); records the
    state at the start and end of each round and, in the first round, after ``snapshot_step`` steps."""

    def __init__(self, loader, snapshot_step=None):
        self.loader, self.snapshot_step = loader, snapshot_step
        self.starts, self.ends, self.snapshot, self.callbacks_seen = [], [], None, []

    def __call__(self, model, callbacks):
        self.callbacks_seen.append(list(callbacks))
        self.starts.append(model.state_dict())
        recorder = self

        class Snap(train.Callback):
            def on_step_end(self, state):
                if state.step == recorder.snapshot_step and recorder.snapshot is None:
                    recorder.snapshot = state.model.state_dict()

        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        train.fit(model, self.loader, opt, epochs=1, callbacks=list(callbacks) + [Snap()], progress=False)
        self.ends.append(model.state_dict())


def naive_next_mask(mask, trained, rate):
    alive = np.flatnonzero(mask.ravel())
    drop = alive[np.argsort(np.abs(trained.ravel()[alive]), kind="stable")[:round(rate * alive.size)]]
    new = mask.ravel().copy()
    new[drop] = 0
    return new.reshape(mask.shape)


def check_rewinds(recorder, reference, rounds):
    """Round r ≥ 1 starts from ``reference`` ⊙ mask_r (weights) and ``reference`` (biases), exactly."""
    for r in range(1, rounds + 1):
        start = recorder.starts[r]
        for layer in LAYERS:
            mask = start[f"{layer}.weight_mask"]
            np.testing.assert_array_equal(start[f"{layer}.weight_orig"], reference[f"{layer}.weight_orig"] * mask)
            assert (start[f"{layer}.weight_orig"][mask == 0] == 0).all(), "pruned entries rewound to 0"
            np.testing.assert_array_equal(start[f"{layer}.bias"], reference[f"{layer}.bias"])


def check_masks(recorder, rounds, rate=0.2, output_rate=0.1):
    for r in range(rounds):
        for layer in LAYERS:
            layer_rate = output_rate if layer == LAYERS[-1] else rate
            before = recorder.starts[r][f"{layer}.weight_mask"]
            after = recorder.starts[r + 1][f"{layer}.weight_mask"]
            np.testing.assert_array_equal(after, naive_next_mask(before, recorder.ends[r][f"{layer}.weight_orig"],
                                                                 layer_rate))
            alive = int(before.sum())
            assert int(after.sum()) == alive - round(layer_rate * alive)


# ---------------------------------------------------------------------------------------------- imp_step
def test_imp_step_by_hand():
    weight = np.array([[0.5, -0.1, 0.0], [2.0, -0.3, 0.2]], np.float32)
    mask = np.array([[1, 1, 0], [1, 1, 1]], np.float32)
    initial = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    inputs = (weight.copy(), mask.copy(), initial.copy())
    new_mask, rewound = L.imp_step(weight, mask, initial, 0.4)       # round(0.4 · 5 alive) = 2: |−0.1|, |0.2|
    np.testing.assert_array_equal(new_mask, [[1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(rewound, [[1.0, 0.0, 0.0], [4.0, 5.0, 0.0]])
    for a, b in zip((weight, mask, initial), inputs):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------- lottery_ticket
def test_lottery_ticket_rewinds_to_initialisation_and_prunes_by_round_rates():
    model = small_model(0)
    recorder = Recorder(blob_loader(0))
    history = L.lottery_ticket(model, recorder, rounds=3, evaluate=lambda m: train.evaluate(m, blob_loader(1)).accuracy)
    assert len(recorder.starts) == 4 and len(history) == 4
    initial = recorder.starts[0]                      # masks of ones, the untrained weights
    check_rewinds(recorder, initial, 3)
    check_masks(recorder, 3)
    total = sum(initial[f"{layer}.weight_mask"].size for layer in LAYERS)
    for r, entry in enumerate(history):
        alive = sum(int(recorder.starts[r][f"{layer}.weight_mask"].sum()) for layer in LAYERS)
        assert entry["remaining"] == pytest.approx(alive / total)
        assert 0 <= entry["accuracy"] <= 1
    assert history[0]["remaining"] == 1.0
    assert all(c == [] for c in recorder.callbacks_seen), "rewind_step=0 needs no checkpoint callback"


def test_lottery_ticket_rewinds_to_step_k():
    model = small_model(1)
    recorder = Recorder(blob_loader(2), snapshot_step=5)
    L.lottery_ticket(model, recorder, rounds=2, rewind_step=5)
    assert recorder.snapshot is not None
    assert isinstance(recorder.callbacks_seen[0][0], L.Checkpoint) and recorder.callbacks_seen[1] == []
    # the step-5 weights differ from the initial ones, so rewinding to 0 instead would fail
    assert not np.array_equal(recorder.snapshot["0.weight_orig"], recorder.starts[0]["0.weight_orig"])
    check_rewinds(recorder, recorder.snapshot, 2)
    check_masks(recorder, 2)


def test_lottery_ticket_custom_rates():
    model = small_model(2)
    recorder = Recorder(blob_loader(3))
    L.lottery_ticket(model, recorder, rounds=2, rate=0.5, output_rate=0.25)
    check_masks(recorder, 2, rate=0.5, output_rate=0.25)


def test_lottery_ticket_needs_enough_steps_for_the_rewind_point():
    model = small_model(3)
    with pytest.raises(ValueError, match="rewind_step"):
        L.lottery_ticket(model, Recorder(blob_loader(4)), rounds=1, rewind_step=1000)


def test_lottery_ticket_is_deterministic():
    def run():
        model = small_model(4)
        history = L.lottery_ticket(model, Recorder(blob_loader(5)), rounds=2,
                                   evaluate=lambda m: train.evaluate(m, blob_loader(6)).accuracy)
        return history, model.state_dict()
    (h1, s1), (h2, s2) = run(), run()
    assert h1 == h2
    for key in s1:
        np.testing.assert_array_equal(s1[key], s2[key])


# ---------------------------------------------------------------------------------------------- Checkpoint
@pytest.mark.parametrize("step", [0, 3])
def test_checkpoint_saves_the_state_after_step_optimizer_steps(step):
    model = small_model(5)
    checkpoint = L.Checkpoint(step)
    recorder = Recorder(blob_loader(7), snapshot_step=step)
    if step == 0:
        initial = model.state_dict()
    recorder(model, [checkpoint])
    expected = initial if step == 0 else recorder.snapshot
    assert checkpoint.state.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(checkpoint.state[key], expected[key])


# ---------------------------------------------------------------------------------------------- random re-init
def test_random_reinit_keeps_masks_and_changes_weights():
    model = small_model(6)
    S.prune_to_sparsity(S.prunable_pairs(model), 0.7)
    masks = [S.current_mask(m, n).copy() for m, n in S.prunable_pairs(model)]
    before = model.state_dict()
    L.random_reinit(model, rng=np.random.default_rng(42))
    after = model.state_dict()
    for layer, mask in zip(LAYERS, masks):
        np.testing.assert_array_equal(after[f"{layer}.weight_mask"], mask)
        assert (after[f"{layer}.weight_orig"] != before[f"{layer}.weight_orig"]).mean() > 0.99
    model(np.zeros((1, 10), np.float32))
    for (m, _), mask in zip(S.prunable_pairs(model), masks):
        assert (m.weight.data[mask == 0] == 0).all(), "the re-initialised net is still pruned"
        assert (m.weight.data[mask == 1] != 0).mean() > 0.99
    again = small_model(6)
    S.prune_to_sparsity(S.prunable_pairs(again), 0.7)
    L.random_reinit(again, rng=np.random.default_rng(42))
    for key, value in again.state_dict().items():
        np.testing.assert_array_equal(value, after[key])


# ---------------------------------------------------------------------------------------------- pruning at init
@pytest.mark.parametrize("criterion", L.INIT_CRITERIA)
@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_prune_at_init_reaches_the_sparsity(criterion, sparsity):
    model = small_model(7)
    batch = next(iter(blob_loader(8)))
    before = model.state_dict()
    L.prune_at_init(model, criterion, sparsity, data=batch, rng=np.random.default_rng(0), synflow_iterations=20)
    pairs = S.prunable_pairs(model)
    total = sum(S.current_mask(m, n).size for m, n in pairs)
    zeros = sum(int((S.current_mask(m, n) == 0).sum()) for m, n in pairs)
    assert zeros == round(sparsity * total)
    for layer in LAYERS:    # only masks: the initial weights themselves are untouched
        np.testing.assert_array_equal(model.state_dict()[f"{layer}.weight_orig"], before[f"{layer}.weight"])


def test_prune_at_init_random_depends_on_the_seed_and_snip_on_the_data():
    def masks(criterion, rng=0, seed=8):
        model = small_model(7)
        L.prune_at_init(model, criterion, 0.8, data=next(iter(blob_loader(seed))), rng=np.random.default_rng(rng))
        return np.concatenate([S.current_mask(m, n).ravel() for m, n in S.prunable_pairs(model)])
    np.testing.assert_array_equal(masks("random", 0), masks("random", 0))
    assert not np.array_equal(masks("random", 0), masks("random", 1))
    np.testing.assert_array_equal(masks("snip"), masks("snip"))
    assert not np.array_equal(masks("snip", seed=8), masks("snip", seed=9))


def test_prune_at_init_rejects_an_unknown_criterion():
    model = small_model()
    with pytest.raises(ValueError, match="criterion"):
        L.prune_at_init(model, "wanda", 0.5)
    assert not prune.is_pruned(model)
