"""The training loop: ``fit``, ``evaluate`` and the callback protocol that pruning schedules plug into.

One optimizer step, in order::

    logits = model(x);  loss = loss_fn(logits, y)       # forward (NaN/inf stops training with a clear error)
    loss.backward()                                      # gradients
    callback.on_after_backward(state)                    # gradients are visible here (movement pruning, RigL)
    optimizer.step()
    callback.on_step_end(state)                          # weights updated; schedules prune here
    optimizer.zero_grad()

``state`` is a :class:`TrainerState` with ``model``, ``optimizer``, ``step`` (optimizer steps done so far),
``epoch``, ``loss``, ``batch`` and ``history``; a callback may set ``state.stop_training = True``.
"""
from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np

from . import functional as F
from .tensor import Tensor, no_grad

Evaluation = namedtuple("Evaluation", ["loss", "accuracy"])


class Callback:
    """Base class: override the hooks you need. Each receives the :class:`TrainerState`."""

    def on_train_begin(self, state): ...
    def on_epoch_begin(self, state): ...
    def on_after_backward(self, state): ...
    def on_step_end(self, state): ...
    def on_epoch_end(self, state): ...
    def on_train_end(self, state): ...


@dataclass
class TrainerState:
    model: object
    optimizer: object
    step: int = 0
    epoch: int = 0
    loss: float = float("nan")
    batch: tuple = ()
    history: dict = field(default_factory=dict)
    stop_training: bool = False


def accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows whose largest logit is at the target class.

    Shapes: logits (N, C), targets (N,) integer labels → a float in [0, 1]. An empty batch has accuracy 0.
    """
    # BEGIN SOLUTION
    if len(targets) == 0:
        return 0.0
    return float(np.mean(np.argmax(logits, axis=1) == targets))
    # END SOLUTION


def predict(model, data, batch_size: int = 1000) -> np.ndarray:
    """Model outputs for an array of inputs (batched, eval mode, no graph); the model's mode is restored."""
    x = data.x if hasattr(data, "x") else np.asarray(data)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = [model(x[i:i + batch_size]).data for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outputs) if outputs else np.zeros((0,))


def evaluate(model, loader, loss_fn=F.cross_entropy) -> Evaluation:
    """Mean loss and accuracy over every batch of ``loader`` (eval mode, no graph; the mode is restored)."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0.0, 0
    try:
        with no_grad():
            for x, y in loader:
                logits = model(x)
                total_loss += float(loss_fn(logits, y, reduction="sum").data)
                correct += accuracy(logits.data, y) * len(y)
                count += len(y)
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    return Evaluation(total_loss / count, correct / count)


def recalibrate_batchnorm(model, loader, batches: int = 50) -> None:
    """Re-estimate every BatchNorm's running mean and variance as the plain average over ``batches`` training
    batches (no gradient, weights untouched).

    Running statistics are exponential averages collected while the weights were still moving, so after a
    short, fast training run — or after pruning changed what flows into a BatchNorm — they can disagree with
    the current network and cost accuracy in eval mode. Setting the k-th batch's momentum to 1/k turns the
    exponential average into the exact mean of the batch statistics (PyTorch's ``momentum=None``).
    """
    from .nn.layers import _BatchNorm

    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    saved = [m.momentum for m in norms]
    was_training = model.training
    model.train()
    try:
        with no_grad():
            for k, (x, _) in enumerate(loader):
                if k == batches:
                    break
                for m in norms:
                    m.momentum = 1.0 / (k + 1)
                model(x)
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
        model.train(was_training)


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm
    # redraw at most once a second: per-step widget updates flood a notebook kernel's message queue
    return tqdm(iterable, mininterval=1.0, **kwargs)


def fit(model, train_loader, optimizer, epochs: int = 1, loss_fn=F.cross_entropy, val_loader=None,
        callbacks=(), progress: bool = True, scheduler=None) -> dict:
    """Train ``model`` for ``epochs`` passes over ``train_loader``; return the history.

    History keys: ``"loss"`` and ``"accuracy"`` (training, per epoch, averaged over batches), ``"val_loss"`` and
    ``"val_accuracy"`` (per epoch, if ``val_loader``), ``"step_loss"`` (every optimizer step), ``"lr"``.
    ``scheduler`` (e.g. ``optim.StepLR``) is stepped once per epoch.
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "step_loss": [], "lr": []}
    state = TrainerState(model=model, optimizer=optimizer, history=history)
    state.step = getattr(optimizer, "step_count", 0)  # a second fit() continues a pruning schedule
    _call(callbacks, "on_train_begin", state)
    model.train()
    for epoch in range(epochs):
        state.epoch = epoch
        _call(callbacks, "on_epoch_begin", state)
        losses, accuracies = [], []
        bar = _progress(train_loader, progress, desc=f"epoch {epoch + 1}/{epochs}", leave=False)
        for x, y in bar:
            state.batch = (x, y)
            logits = model(x)
            loss = loss_fn(logits, y)
            value = float(loss.data)
            if not math.isfinite(value):
                raise FloatingPointError(f"fit: the loss became {value} at step {state.step} (epoch {epoch + 1}); "
                                         "lower the learning rate or check the inputs")
            loss.backward()
            state.loss = value
            _call(callbacks, "on_after_backward", state)
            optimizer.step()
            state.step += 1
            optimizer.step_count = state.step
            _call(callbacks, "on_step_end", state)
            optimizer.zero_grad()
            losses.append(value)
            accuracies.append(accuracy(logits.data, y))
            history["step_loss"].append(value)
            if progress:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            if state.stop_training:
                break
        history["loss"].append(float(np.mean(losses)) if losses else float("nan"))
        history["accuracy"].append(float(np.mean(accuracies)) if accuracies else float("nan"))
        history["lr"].append(optimizer.param_groups[0]["lr"])
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn)
            history["val_loss"].append(val.loss)
            history["val_accuracy"].append(val.accuracy)
        if scheduler is not None:
            scheduler.step()
        _call(callbacks, "on_epoch_end", state)
        if state.stop_training:
            break
    _call(callbacks, "on_train_end", state)
    return history


def _call(callbacks, hook: str, state: TrainerState):
    for callback in callbacks:
        getattr(callback, hook, lambda s: None)(state)
