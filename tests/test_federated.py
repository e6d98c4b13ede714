"""Federated learning (minprune/federated.py): FedAvg's weighted average, its equivalence to centralised SGD for one
full-batch step, bytes counted from the real encodings, robustness to bad clients, and the data splits.

Why one FedAvg round of one full-batch SGD step equals one centralised SGD step on the union (derived here):
client k holds n_k samples and computes w_k = w − η ∇L_k(w), L_k its mean loss. The server averages with weights
n_k / n, n = Σ n_k:  Σ (n_k/n) w_k = w − η Σ (n_k/n) ∇L_k(w) = w − η ∇[(1/n) Σ_k n_k L_k](w) = w − η ∇L(w), L the
mean loss over the union. With more local steps or unequal weights (an unweighted mean) the two differ.
"""
import copy
import warnings

import numpy as np
import pytest

from minprune import federated, functional as F, models, nn, optim, prune
from minprune.data import ArrayDataset
from minprune.sparse import BitmaskMatrix


def tiny_model(seed=0):
    return models.mlp([4, 5, 3], rng=np.random.default_rng(seed), flatten=False).double()


def dataset(n, seed):
    rng = np.random.default_rng(seed)
    return ArrayDataset(rng.standard_normal((n, 4)), rng.integers(0, 3, n))


def params(model):
    return {k: p.data.copy() for k, p in model.named_parameters()}


def centralised_step(model, datasets, lr):
    union_x = np.concatenate([d.x for d in datasets])
    union_y = np.concatenate([d.y for d in datasets])
    central = copy.deepcopy(model)
    opt = optim.SGD(central.parameters(), lr=lr)
    loss = F.cross_entropy(central(union_x), union_y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return params(central)


# ---------------------------------------------------------------------------------------------- fedavg
def test_fedavg_weighted_average_by_hand():
    states = [{"w": np.array([1.0, 2.0]), "b": np.array(0.0)}, {"w": np.array([4.0, -1.0]), "b": np.array(3.0)}]
    out = federated.fedavg(states, [1, 2])
    np.testing.assert_allclose(out["w"], [(1 + 8) / 3, (2 - 2) / 3])
    np.testing.assert_allclose(out["b"], 2.0)


def test_fedavg_keeps_dtype_and_identical_clients_give_the_same_state():
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    out = federated.fedavg([state, copy.deepcopy(state), copy.deepcopy(state)], [5, 1, 7])
    np.testing.assert_allclose(out["w"], state["w"], rtol=1e-6)
    assert out["w"].dtype == np.float32


def test_fedavg_skips_bad_clients_with_a_warning_and_they_change_nothing():
    reference = {"w": np.zeros((2, 2)), "b": np.zeros(2)}
    good = [{"w": np.ones((2, 2)), "b": np.ones(2)}, {"w": 3 * np.ones((2, 2)), "b": np.zeros(2)}]
    bad = [None,                                                            # dropped out
           {"w": np.full((2, 2), np.nan), "b": np.ones(2)},                 # corrupt
           {"w": np.ones((3, 2)), "b": np.ones(2)},                         # misshapen
           {"w": np.ones((2, 2))},                                          # missing a key
           {"w": np.ones((2, 2)), "b": np.ones(2), "extra": np.ones(1)}]    # an unexpected key
    expected = federated.fedavg(good, [10, 30], reference=reference)
    with pytest.warns(RuntimeWarning, match="skipping client") as record:
        out = federated.fedavg([good[0]] + bad + [good[1]], [10, 99, 99, 99, 99, 99, 30], reference=reference)
    assert len(record) == 5
    messages = " ".join(str(r.message) for r in record)
    for word in ("dropped out", "non-finite", "shape", "missing", "extra"):
        assert word in messages
    for key in expected:
        np.testing.assert_array_equal(out[key], expected[key])


def test_fedavg_with_no_valid_client_raises():
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="no valid client"):
        federated.fedavg([None, None], [1, 1])


# ---------------------------------------------------------------------------------------------- FedAvg = SGD
@pytest.mark.parametrize("sizes", [(6, 6, 6), (3, 8, 5)])
def test_one_round_of_one_full_batch_step_equals_centralised_sgd(sizes):
    model = tiny_model()
    clients = [dataset(n, seed=k) for k, n in enumerate(sizes)]
    if len(set(sizes)) == 1:                                                  # identical clients
        clients = [clients[0]] * len(sizes)
    expected = centralised_step(model, clients, lr=0.3)
    history = federated.run_fedavg(model, clients, rounds=1, local_steps=1, lr=0.3, batch_size=100,
                                   rng=np.random.default_rng(0))
    for key, value in params(model).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-12, err_msg=key)
    assert history == [{"round": 1, "bytes": len(sizes) * 4 * sum(v.size for v in expected.values()),
                        "accuracy": None}]


def test_unequal_clients_make_the_weighting_matter():
    """Guard for the test above: an unweighted mean of the same client models is a different step."""
    model = tiny_model()
    clients = [dataset(3, 0), dataset(8, 1), dataset(5, 2)]
    expected = centralised_step(model, clients, lr=0.3)
    updates = [federated.local_update(model, c, 1, 0.3, 100, np.random.default_rng(0)) for c in clients]
    unweighted = {k: np.mean([u[k] for u in updates], axis=0) for k in updates[0]}
    start = params(model)
    assert max(np.abs(start[k] + unweighted[k] - expected[k]).max() for k in expected) > 1e-4


def test_a_bad_client_leaves_the_global_model_as_if_it_were_absent():
    model, twin = tiny_model(), tiny_model()
    clients = [dataset(6, 0), dataset(9, 1)]
    corrupt = ArrayDataset(np.full((4, 4), np.nan), np.zeros(4, dtype=np.int64))   # its update is NaN
    federated.run_fedavg(twin, clients, rounds=1, local_steps=1, lr=0.2, batch_size=100)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        federated.run_fedavg(model, [clients[0], corrupt, clients[1]], rounds=1, local_steps=1, lr=0.2,
                             batch_size=100)
    for key, value in params(model).items():
        assert np.all(np.isfinite(value))
        np.testing.assert_allclose(value, params(twin)[key], atol=1e-12)


# ---------------------------------------------------------------------------------------------- bytes
def test_update_bytes_equal_the_encoded_sizes():
    rng = np.random.default_rng(0)
    update = {"w": rng.standard_normal((5, 7)).astype(np.float32), "b": rng.standard_normal(5).astype(np.float32)}
    assert federated.update_bytes(update, "dense") == 4 * 35 + 4 * 5
    sent, _ = federated.topk_with_feedback(update, {}, 0.2)               # 7 of 35, 1 of 5
    encoded = sum(BitmaskMatrix.from_dense(v).nbytes for v in sent.values())
    assert federated.update_bytes(sent, "topk") == encoded == (5 + 7 * 4) + (1 + 1 * 4)   # ⌈35/8⌉ + 4·nnz
    mask = (rng.random((5, 7)) < 0.4).astype(np.float32)
    assert federated.update_bytes(update, "pruned", {"w": mask}) == 4 * int(mask.sum()) + 4 * 5
    with pytest.raises(ValueError, match="scheme"):
        federated.update_bytes(update, "csr")


def test_topk_error_feedback_loses_nothing():
    rng = np.random.default_rng(1)
    update, residual = {"w": rng.standard_normal((4, 5))}, {"w": rng.standard_normal((4, 5))}
    sent, kept = federated.topk_with_feedback(update, residual, 0.25)
    np.testing.assert_allclose(sent["w"] + kept["w"], update["w"] + residual["w"])
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            federated.topk_with_feedback(update, residual, bad)
    total = np.abs(update["w"] + residual["w"]).ravel()
    assert np.count_nonzero(sent["w"]) == 5
    assert np.abs(sent["w"]).ravel()[np.flatnonzero(sent["w"])].min() >= np.sort(total)[-5]


def test_run_fedavg_counts_the_bytes_of_each_scheme():
    clients = [dataset(10, k) for k in range(3)]
    model = tiny_model()
    sizes = {k: v.size for k, v in params(model).items()}                  # 0.weight 20, 0.bias 5, 2.weight 15, 2.bias 3
    dense = federated.run_fedavg(copy.deepcopy(model), clients, rounds=2, local_steps=2, lr=0.1, batch_size=4)
    assert [h["bytes"] for h in dense] == [3 * 4 * 43, 6 * 4 * 43]
    topk = federated.run_fedavg(copy.deepcopy(model), clients, rounds=1, local_steps=2, lr=0.1, batch_size=4,
                                scheme="topk", topk_fraction=0.2)
    per_client = sum((n + 7) // 8 + 4 * max(1, round(0.2 * n)) for n in sizes.values())
    assert topk[0]["bytes"] == 3 * per_client
    pruned_model = copy.deepcopy(model)
    prune.l1_unstructured(pruned_model[0], "weight", 0.5)                 # 10 of 20 remain
    prune.l1_unstructured(pruned_model[2], "weight", 0.6)                 # 6 of 15 remain
    pruned = federated.run_fedavg(pruned_model, clients, rounds=1, local_steps=2, lr=0.1, batch_size=4,
                                  scheme="pruned")
    assert pruned[0]["bytes"] == 3 * 4 * (10 + 5 + 6 + 3)


def test_pruned_weights_stay_zero_and_only_unpruned_ones_move():
    clients = [dataset(10, k) for k in range(2)]
    model = tiny_model()
    prune.l1_unstructured(model[0], "weight", 0.5)
    mask = model[0].weight_mask.copy()
    start = model[0].weight_orig.data.copy()
    federated.run_fedavg(model, clients, rounds=2, local_steps=3, lr=0.2, batch_size=5, scheme="pruned")
    moved = model[0].weight_orig.data != start
    assert not np.any(moved[mask == 0]) and np.any(moved[mask == 1])
    model(clients[0].x)
    assert np.all(model[0].weight.data[mask == 0] == 0)


# ---------------------------------------------------------------------------------------------- splits
def indexed(n, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return ArrayDataset(np.arange(n, dtype=np.float64)[:, None], rng.integers(0, classes, n))


@pytest.mark.parametrize("alpha", [0.1, 1.0, 100.0])
def test_split_dirichlet_covers_every_sample_exactly_once(alpha):
    full = indexed(500)
    parts = federated.split_dirichlet(full, 7, alpha, np.random.default_rng(0))
    assert len(parts) == 7
    ids = np.concatenate([p.x[:, 0] for p in parts]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(500))
    for p in parts:                                                        # labels travel with their samples
        np.testing.assert_array_equal(p.y, full.y[p.x[:, 0].astype(int)])


def test_small_alpha_gives_skewed_clients():
    full = indexed(2000)
    def dominance(alpha):
        parts = federated.split_dirichlet(full, 10, alpha, np.random.default_rng(0))
        return np.mean([np.bincount(p.y, minlength=10).max() / len(p) for p in parts if len(p)])
    assert dominance(0.1) > 0.5 > 0.2 > dominance(100.0)
    with pytest.raises(ValueError, match="alpha"):
        federated.split_dirichlet(full, 3, 0.0, np.random.default_rng(0))


def test_split_iid_equal_shards_covering_everything():
    parts = federated.split_iid(indexed(103), 4, np.random.default_rng(0))
    assert sorted(len(p) for p in parts) == [25, 26, 26, 26]
    np.testing.assert_array_equal(np.sort(np.concatenate([p.x[:, 0] for p in parts])), np.arange(103))
