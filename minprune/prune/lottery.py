"""The lottery ticket hypothesis and pruning at initialisation (the seed §15).

Frankle & Carbin (2019): a randomly initialised dense network contains a sparse subnetwork — a *winning
ticket* — that, trained in isolation *from the same initial weights*, matches the dense network. It is found by
iterative magnitude pruning (IMP): train, prune p % of the remaining weights by magnitude, **rewind** the
survivors to their initial values, repeat. The control: the same masks with a *fresh* random initialisation
usually train worse — the initial values matter. Frankle et al. (2020, "Linear Mode Connectivity and the
Lottery Ticket Hypothesis") rewind to an early step k instead of 0, which is what makes it work on larger nets.

Pruning at initialisation (SNIP, GraSP, SynFlow) tries to find such a mask *before* any training.
"""
from __future__ import annotations

import numpy as np

from ..train import Callback
from .base import nparams_to_prune, smallest_k, trainable_parameter
from .schedules import current_mask, prunable_pairs, prune_to_sparsity, set_mask


def imp_step(weight: np.ndarray, mask: np.ndarray, initial: np.ndarray, rate: float):
    """One round of iterative magnitude pruning for one layer: prune, then rewind.

    Prune ``round(rate · alive)`` of the still-unpruned entries (mask == 1) with the smallest |weight| (the
    trained weights; ties: lower index first), then return (new mask, rewound weights = initial ⊙ new mask).
    Shapes: all (…) → ((…), (…)). Inputs are not modified.
    """
    # BEGIN SOLUTION
    alive = np.flatnonzero(np.ravel(mask))
    drop = alive[smallest_k(np.abs(np.ravel(weight)[alive]), nparams_to_prune(rate, alive.size))]
    new_mask = np.array(mask, dtype=np.float32, copy=True)
    new_mask.reshape(-1)[drop] = 0.0
    return new_mask, np.asarray(initial) * new_mask
    # END SOLUTION


class Checkpoint(Callback):
    """Save a copy of the model's state dict after ``step`` optimizer steps (the rewind point of IMP)."""

    def __init__(self, step: int):
        self.step, self.state = step, None

    def on_train_begin(self, state):
        if state.step == self.step and self.state is None:
            self.state = state.model.state_dict()

    def on_step_end(self, state):
        if state.step == self.step and self.state is None:
            self.state = state.model.state_dict()


def _orig(module):
    return trainable_parameter(module, "weight")


def _weight_key(model, module) -> str:
    name = next(n for n, m in model.named_modules() if m is module)
    suffix = "weight_orig" if "weight_orig" in module._parameters else "weight"
    return f"{name}.{suffix}" if name else suffix


def lottery_ticket(model, train, rounds: int, rate: float = 0.2, output_rate: float = 0.1,
                   rewind_step: int = 0, evaluate=None) -> list:
    """Iterative magnitude pruning with rewinding (Frankle & Carbin 2019), in place on ``model``.

    ``train(model, callbacks)`` trains the model (e.g. a ``train.fit`` call forwarding ``callbacks``) — it is
    called ``rounds + 1`` times. Each round prunes ``rate`` of the remaining weights of every layer (``output_rate``
    for the last, as the paper's 20 % / 10 %) with :func:`imp_step` and rewinds every parameter (biases too) to
    its value after ``rewind_step`` steps of the first training (0 = the initialisation). ``evaluate(model)``
    returns an accuracy. Returns the history ``[{"remaining": fraction of weights left, "accuracy": …}, …]``.
    """
    pairs = prunable_pairs(model)
    for module, name in pairs:
        if name + "_mask" not in module._buffers:
            set_mask(module, name, np.ones(_orig(module).shape, dtype=np.float32))
    checkpoint = Checkpoint(rewind_step)
    if rewind_step == 0:
        checkpoint.state = model.state_dict()
    total = sum(_orig(m).size for m, _ in pairs)
    history = []
    for round_index in range(rounds + 1):
        train(model, [checkpoint] if checkpoint.state is None else [])
        remaining = sum(float(current_mask(m, n).sum()) for m, n in pairs) / total
        history.append({"remaining": remaining, "accuracy": None if evaluate is None else evaluate(model)})
        if round_index == rounds:
            break
        if checkpoint.state is None:
            raise ValueError(f"lottery_ticket: training ran fewer than rewind_step={rewind_step} steps")
        rewound = dict(checkpoint.state)
        for i, (module, name) in enumerate(pairs):
            key = _weight_key(model, module)
            layer_rate = output_rate if i == len(pairs) - 1 else rate
            mask, rewound[key] = imp_step(_orig(module).data, current_mask(module, name),
                                          checkpoint.state[key], layer_rate)
            rewound[key.replace("weight_orig", "weight_mask")] = mask
        model.load_state_dict(rewound)
        for module, name in pairs:
            set_mask(module, name, module._buffers[name + "_mask"])
    return history


def random_reinit(model, rng: np.random.Generator | None = None):
    """The lottery-ticket control: keep every mask, draw fresh initial weights (PyTorch's default init) for
    every Linear/Conv2d — same architecture, same sparsity pattern, different initial values. In place."""
    rng = rng if rng is not None else np.random.default_rng(0)
    for module, name in prunable_pairs(model):
        module.reset_parameters(rng)
        if name + "_mask" in module._buffers:
            set_mask(module, name, module._buffers[name + "_mask"])
    return model


INIT_CRITERIA = ("snip", "grasp", "synflow", "random", "magnitude")


def prune_at_init(model, criterion: str, sparsity: float, data=None, rng=None, synflow_iterations: int = 100):
    """Prune an untrained ``model`` to ``sparsity`` (global) before training, with ``criterion`` in
    ``INIT_CRITERIA``: SNIP and GraSP need ``data`` (one or a few batches), SynFlow needs only the input shape
    (taken from ``data`` — its first batch — so pass one batch), random needs ``rng``. In place; returns the model."""
    from . import criteria

    if criterion not in INIT_CRITERIA:
        raise ValueError(f"prune_at_init: criterion must be one of {INIT_CRITERIA}, got {criterion!r}")
    pairs = prunable_pairs(model)
    if criterion == "synflow":
        x = criteria.batches(data)[0][0]
        return criteria.synflow_prune(model, sparsity, x.shape[1:], synflow_iterations)
    scores = {"snip": lambda: criteria.snip(model, data), "grasp": lambda: criteria.grasp(model, data),
              "random": lambda: criteria.random(model, rng), "magnitude": lambda: criteria.magnitude(model)}[criterion]()
    # prune_to_sparsity ranks by |score|; GraSP's importance is signed, so shift it to keep its order
    if criterion == "grasp":
        low = min(float(s.min()) for s in scores.values())
        scores = {k: s - low for k, s in scores.items()}
    prune_to_sparsity(pairs, sparsity, scores, scope="global")
    return model
