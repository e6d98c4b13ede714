"""Tests of minprune.related.nas: parameter counts by hand, searches that are deterministic from a seed and respect
the budget, aging evolution (each child is one edit of the best of the *current* population, whose oldest member
dies), the Pareto front of a hand list, and re-initialisation for the "Rethinking" comparison."""
import numpy as np
import pytest

from minprune import models, nn
from minprune.related import nas

WIDTHS = (16, 32, 64, 128, 256)


def rng(seed=0):
    return np.random.default_rng(seed)


def fake_accuracy(arch):
    """A deterministic stand-in for training: a made-up score of the widths (no training in unit tests)."""
    return float((sum(w * (i + 1) for i, w in enumerate(arch)) * 7919) % 1000) / 1000


def test_mlp_parameters_by_hand():
    assert nas.mlp_parameters((300, 100)) == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10 == 266_610
    assert nas.mlp_parameters(()) == 7850
    model = nas.build_mlp((32, 16), rng=rng())
    assert sum(p.size for p in model.parameters()) == nas.mlp_parameters((32, 16))
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [32, 16, 10]


def test_random_search_deterministic_and_within_budget():
    budget = 60_000
    a = nas.random_search(fake_accuracy, n=12, budget=budget, rng=rng(1))
    b = nas.random_search(fake_accuracy, n=12, budget=budget, rng=rng(1))
    assert a == b
    assert len(a) == 12
    for r in a:
        assert r["parameters"] == nas.mlp_parameters(r["architecture"]) <= budget
        assert r["accuracy"] == fake_accuracy(r["architecture"])
        assert 1 <= len(r["architecture"]) <= 3 and set(r["architecture"]) <= set(WIDTHS)
    assert nas.random_search(fake_accuracy, n=12, budget=budget, rng=rng(2)) != a


def test_random_search_calls_train_eval_once_per_result():
    calls = []
    results = nas.random_search(lambda arch: calls.append(arch) or 0.5, n=5, rng=rng(3))
    assert calls == [r["architecture"] for r in results]


def test_random_search_custom_space():
    results = nas.random_search(fake_accuracy, n=8, rng=rng(4), widths=(8, 24), depths=(2,))
    assert all(len(r["architecture"]) == 2 and set(r["architecture"]) <= {8, 24} for r in results)


def test_random_search_impossible_budget_is_an_error_not_a_hang():
    smallest = nas.mlp_parameters((16,))
    with pytest.raises(ValueError, match="budget"):
        nas.random_search(fake_accuracy, n=1, budget=smallest - 1, rng=rng())
    assert nas.random_search(fake_accuracy, n=1, budget=smallest, rng=rng())[0]["architecture"] == (16,)


def is_one_edit(parent, child):
    """Same depth with at most one width changed, or one layer inserted / removed."""
    if len(parent) == len(child):
        return sum(p != c for p, c in zip(parent, child)) <= 1
    short, long = sorted((parent, child), key=len)
    if len(long) != len(short) + 1:
        return False
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def test_mutate_is_a_single_edit_within_the_space():
    g = rng(5)
    arch = (64,)
    for _ in range(200):
        child = nas.mutate(arch, g, widths=WIDTHS, max_depth=3)
        assert is_one_edit(arch, child) and 1 <= len(child) <= 3 and set(child) <= set(WIDTHS)
        arch = child
    assert nas.mutate((32, 64), rng(6)) == nas.mutate((32, 64), rng(6))


def test_regularized_evolution_ages_the_population():
    population, cycles, budget = 5, 15, 120_000
    history = nas.regularized_evolution(fake_accuracy, cycles=cycles, population_size=population,
                                        sample_size=population, budget=budget, rng=rng(7))
    assert len(history) == population + cycles
    assert all(r["parameters"] <= budget for r in history)
    assert history == nas.regularized_evolution(fake_accuracy, cycles=cycles, population_size=population,
                                                sample_size=population, budget=budget, rng=rng(7))
    # with the whole population sampled, the parent of child c is the best of history[c : c + population]:
    # the population is the last `population` architectures evaluated, the oldest dying first
    for c in range(cycles):
        window = history[c:c + population]
        parent = max(window, key=lambda r: r["accuracy"])
        assert is_one_edit(parent["architecture"], history[population + c]["architecture"]), c


def test_regularized_evolution_respects_the_depths_of_the_space():
    history = nas.regularized_evolution(fake_accuracy, cycles=30, population_size=4, rng=rng(8),
                                        widths=(8, 16), depths=(1, 2, 3, 4, 5))
    assert max(len(r["architecture"]) for r in history) > 3      # deeper children allowed by depths=…5
    assert all(len(r["architecture"]) <= 5 and set(r["architecture"]) <= {8, 16} for r in history)


def test_pareto_front_of_a_hand_list():
    results = [{"name": n, "parameters": p, "accuracy": a} for n, p, a in [
        ("a", 100, 0.90), ("b", 50, 0.85), ("c", 200, 0.95), ("d", 150, 0.89), ("e", 50, 0.80),
        ("f", 300, 0.95), ("g", 120, 0.92), ("h", 10, 0.5)]]
    front = nas.pareto_front(results)
    # d is beaten by a (fewer parameters, more accurate), e by b (same size, more accurate), f by c (same
    # accuracy, fewer parameters)
    assert [r["name"] for r in front] == ["h", "b", "a", "g", "c"]
    assert nas.pareto_front([]) == []


def test_reinitialize_keeps_architecture_fresh_weights():
    model = nn.Sequential(nn.Linear(6, 5, rng=rng(9)), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3, rng=rng(9)))
    model[1].running_mean[...] = 3.0
    model[1].weight.data[...] = 2.0
    before = {n: v.copy() for n, v in model.state_dict().items()}
    fresh = nas.reinitialize(model, rng=rng(10))
    assert [type(m) for m in fresh] == [type(m) for m in model]
    for name, value in fresh.state_dict().items():
        assert value.shape == before[name].shape
    assert not np.allclose(fresh[0].weight.data, model[0].weight.data)
    np.testing.assert_array_equal(fresh[1].weight.data, 1.0)
    np.testing.assert_array_equal(fresh[1].running_mean, 0.0)
    for name, value in model.state_dict().items():              # the original is untouched
        np.testing.assert_array_equal(value, before[name])
    again = nas.reinitialize(model, rng=rng(10))
    np.testing.assert_array_equal(again[0].weight.data, fresh[0].weight.data)


def test_reinitialize_lenet_uses_the_default_init():
    model = models.LeNet300_100(rng=rng(11))
    fresh = nas.reinitialize(model, rng=rng(12))
    assert (fresh.fc1.weight.shape, fresh.fc2.weight.shape) == ((300, 784), (100, 300))
    assert np.abs(fresh.fc1.weight.data).max() <= 1 / np.sqrt(784) + 1e-6      # PyTorch's default init bound
