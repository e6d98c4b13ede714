"""Neural architecture search, small and honest (the seed §14), and pruning *as* architecture search.

- :func:`random_search` samples architectures (MLP hidden widths and depth) within a parameter budget and
  trains each briefly — the baseline every NAS method must beat (Li & Talwalkar 2019).
- :func:`regularized_evolution` (Real et al. 2019, "Regularized Evolution for Image Classifier Architecture
  Search"): keep a population; each cycle, sample a few, mutate the best, add the child, drop the *oldest*.
- Liu et al. 2019 ("Rethinking the Value of Network Pruning") showed that the widths found by structured
  pruning, re-initialised and trained from scratch, often match fine-tuning the pruned weights — pruning as
  architecture search. :func:`reinitialize` gives the from-scratch copy.

``train_eval(architecture) -> accuracy`` is yours to define (a few hundred steps on an MNIST subset).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import models, nn


def mlp_parameters(widths, inputs: int = 784, classes: int = 10) -> int:
    """Weights + biases of ``models.mlp([inputs, *widths, classes])``."""
    sizes = [inputs, *widths, classes]
    return int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))


def sample_architecture(rng, widths=(16, 32, 64, 128, 256), depths=(1, 2, 3)) -> tuple:
    return tuple(int(w) for w in rng.choice(widths, size=int(rng.choice(depths))))


def mutate(architecture: tuple, rng, widths=(16, 32, 64, 128, 256), max_depth: int = 3) -> tuple:
    """Change one layer's width, or add or remove a layer — a single random edit, as in Real et al."""
    arch = list(architecture)
    move = rng.integers(3)
    if move == 0 or (move == 2 and len(arch) == 1) or (move == 1 and len(arch) >= max_depth):
        arch[int(rng.integers(len(arch)))] = int(rng.choice(widths))
    elif move == 1:
        arch.insert(int(rng.integers(len(arch) + 1)), int(rng.choice(widths)))
    else:
        arch.pop(int(rng.integers(len(arch))))
    return tuple(arch)


def _within(arch, budget):
    return budget is None or mlp_parameters(arch) <= budget


def random_search(train_eval, n: int = 10, budget: int | None = None, rng=None, **space) -> list:
    """Evaluate ``n`` random architectures within ``budget`` parameters; returns dicts (architecture,
    parameters, accuracy) in evaluation order. ``space``: ``widths=`` and ``depths=`` to sample from. A budget
    that no architecture of the space fits raises ValueError (instead of sampling forever)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    widths, depths = space.get("widths", (16, 32, 64, 128, 256)), space.get("depths", (1, 2, 3))
    smallest = min(mlp_parameters((min(widths),) * d) for d in depths)   # parameters grow with every width
    if budget is not None and smallest > budget:
        raise ValueError(f"random_search: budget={budget} parameters admits no architecture of the search space "
                         f"(the smallest has {smallest})")
    results = []
    while len(results) < n:
        arch = sample_architecture(rng, **space)
        if _within(arch, budget):
            results.append({"architecture": arch, "parameters": mlp_parameters(arch), "accuracy": train_eval(arch)})
    return results


def regularized_evolution(train_eval, cycles: int = 10, population_size: int = 6, sample_size: int = 3,
                          budget: int | None = None, rng=None, **space) -> list:
    """Aging evolution: returns every evaluated architecture (the initial population, then one child per cycle)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    widths, max_depth = space.get("widths", (16, 32, 64, 128, 256)), max(space.get("depths", (1, 2, 3)))
    history = random_search(train_eval, population_size, budget, rng, **space)
    population = list(history)
    for _ in range(cycles):
        sample = [population[i] for i in rng.choice(len(population), size=min(sample_size, len(population)),
                                                     replace=False)]
        parent = max(sample, key=lambda r: r["accuracy"])
        child = mutate(parent["architecture"], rng, widths, max_depth)
        while not _within(child, budget):        # the parent is within budget, so some mutation is too
            child = mutate(parent["architecture"], rng, widths, max_depth)
        result = {"architecture": child, "parameters": mlp_parameters(child), "accuracy": train_eval(child)}
        population.append(result)
        population.pop(0)                  # the oldest dies, however good: the "regularization"
        history.append(result)
    return history


def pareto_front(results) -> list:
    """The results no other result beats on both fewer parameters and higher accuracy, by parameters."""
    ordered = sorted(results, key=lambda r: (r["parameters"], -r["accuracy"]))
    front, best = [], -np.inf
    for r in ordered:
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    return front


def build_mlp(architecture, rng=None):
    """``models.mlp([784, *architecture, 10])``."""
    return models.mlp([784, *architecture, 10], rng=rng)


def reinitialize(model, rng=None):
    """A copy of ``model`` with the same architecture (widths) and fresh initial weights — Liu et al.'s
    "train the pruned architecture from scratch". BatchNorm layers are reset too."""
    rng = rng if rng is not None else np.random.default_rng(0)
    fresh = copy.deepcopy(model)
    for module in fresh.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            module.reset_parameters(rng)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.weight.data[...] = 1.0
            module.bias.data[...] = 0.0
            module.running_mean[...] = 0.0
            module.running_var[...] = 1.0
    return fresh
