"""Plots of the course: weights, masks, sparsity, accuracy, schedules, sensitivity and speed.

Every function returns a ``matplotlib.figure.Figure`` with labelled axes, built directly (not through
``pyplot``): nothing is opened on screen or kept in pyplot's list of figures, it works under any backend
(Agg included), and in Jupyter the figure is shown once when it is the cell's value (or ``display(fig)``).
Save one with ``fig.savefig("name.png")``.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .nn.module import Module
from .tensor import Tensor


def _figure(size=(6.4, 4.0)):
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _array(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _all_weights(source) -> np.ndarray:
    """The pooled (effective) Linear/Conv2d weights of a model, or the entries of an array."""
    if isinstance(source, Module):
        from .metrics import layer_weights

        weights = list(layer_weights(source, include_bias=False).values())
        return np.concatenate([w.ravel() for w in weights]) if weights else np.zeros(0)
    return _array(source).ravel()


def weight_histogram(before, after=None, bins: int = 100, log: bool = True, title: str | None = None) -> Figure:
    """Histogram of weight values before pruning and (optionally) the *surviving* weights after.

    ``before``/``after``: arrays, Tensors or models (their Linear/Conv2d weights pooled, effective values).
    The pruned zeros are left out of the "after" histogram (they would be one enormous bar at 0) and counted
    in its legend instead: magnitude pruning leaves a gap around zero.
    """
    fig, ax = _figure()
    w0 = _all_weights(before)
    edges = np.histogram_bin_edges(w0 if w0.size else np.zeros(1), bins=bins)
    ax.hist(w0, bins=edges, alpha=0.6, label=f"before ({w0.size:,} weights)")
    if after is not None:
        w1 = _all_weights(after)
        kept = w1[w1 != 0]
        ax.hist(kept, bins=edges, alpha=0.6,
                label=f"after: {kept.size:,} non-zero ({w1.size - kept.size:,} zeros not shown)")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("weight value")
    ax.set_ylabel("count" + (" (log scale)" if log else ""))
    ax.set_title(title or "Weight distribution" + (" before and after pruning" if after is not None else ""))
    ax.legend()
    return fig


def mask_image(mask, title: str | None = None) -> Figure:
    """The pruning mask of a weight as an image: kept entries dark, pruned ones white.

    ``mask``: a 0/1 (or any) array — non-zero means kept — or a Linear/Conv2d module (its mask if pruned, else
    the non-zeros of its weight). A conv filter bank (out, in, kh, kw) is shown as its 2-D view
    (out, in·kh·kw): one row per output channel. Rows of white are removed neurons/filters (structured).
    """
    if isinstance(mask, Module):
        from .metrics import module_parameters

        mask = module_parameters(mask)["weight"]
    m = _array(mask)
    if m.ndim == 1:
        m = m.reshape(1, -1)
    m = (m.reshape(m.shape[0], -1) != 0)
    fig, ax = _figure((6.4, max(2.5, min(6.4, 6.4 * m.shape[0] / max(m.shape[1], 1)) + 1.0)))
    ax.imshow(m, cmap="gray_r", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("input (column of the weight)")
    ax.set_ylabel("output (row of the weight)")
    ax.set_title(title or f"Mask {m.shape[0]}×{m.shape[1]}: {100 * (1 - m.mean()):.1f} % pruned (white)")
    return fig


def layer_sparsity_bars(model_or_sparsities, title: str | None = None) -> Figure:
    """Bar chart of the sparsity (%) of each layer: a model (``metrics.sparsity``) or a ``{name: fraction}``
    dict. The global sparsity is drawn as a dashed line when a model is given."""
    overall = None
    if isinstance(model_or_sparsities, Module):
        from .metrics import sparsity

        result = sparsity(model_or_sparsities)
        layers, overall = result.layers, result.overall
    else:
        layers = dict(model_or_sparsities)
    fig, ax = _figure()
    names = list(layers)
    values = [100 * layers[n] for n in names]
    bars = ax.bar(range(len(names)), values)
    ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], padding=2)
    ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4
                  else "center")
    if overall is not None:
        ax.axhline(100 * overall, linestyle="--", color="gray", label=f"global {100 * overall:.1f} %")
        ax.legend()
    ax.set_ylim(0, 105)
    ax.set_xlabel("layer")
    ax.set_ylabel("sparsity (%)")
    ax.set_title(title or "Sparsity per layer")
    return fig


def _curves(curves):
    """``{label: (xs, ys)}`` from a dict, or a single ``(xs, ys)`` pair."""
    if isinstance(curves, dict):
        return {label: (np.asarray(x, float), np.asarray(y, float)) for label, (x, y) in curves.items()}
    xs, ys = curves
    return {None: (np.asarray(xs, float), np.asarray(ys, float))}


def sparsity_accuracy_curve(curves, baseline: float | None = None, title: str | None = None) -> Figure:
    """Accuracy (%) against sparsity (%), one line per method.

    ``curves``: ``{label: (sparsities, accuracies)}`` or one ``(sparsities, accuracies)`` pair, as fractions.
    ``baseline``: the dense model's accuracy (a fraction), drawn as a dashed line.
    """
    fig, ax = _figure()
    for label, (s, a) in _curves(curves).items():
        ax.plot(100 * s, 100 * a, marker="o", label=label)
    if baseline is not None:
        ax.axhline(100 * baseline, linestyle="--", color="gray", label=f"dense baseline {100 * baseline:.2f} %")
    ax.set_xlabel("sparsity (%)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "Accuracy vs sparsity")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return fig


def _schedule_points(schedule, steps):
    if callable(schedule):
        if steps is None:
            raise ValueError("schedule_curve: a callable schedule needs steps (an int or a sequence of steps)")
        xs = np.arange(steps) if np.isscalar(steps) else np.asarray(list(steps))
        return xs, np.array([float(schedule(int(t))) for t in xs]), False
    points = list(schedule)
    if not points or any(len(p) != 2 for p in points):
        raise ValueError(f"schedule_curve: expected a callable or a list of (step, sparsity) pairs, got {schedule!r}")
    xs, ys = zip(*points)
    return np.asarray(xs, float), np.asarray(ys, float), True


def schedule_curve(schedule, steps=None, title: str | None = None) -> Figure:
    """Target sparsity (%) against training step.

    ``schedule``: a list of ``(step, sparsity)`` pairs (drawn as a staircase: the sparsity holds until the
    next pruning step), a callable ``step → sparsity`` (evaluated at ``steps``: an int n means 0..n−1, or a
    sequence of steps), or a dict ``{label: schedule}`` to compare several.
    """
    fig, ax = _figure()
    schedules = schedule if isinstance(schedule, dict) else {None: schedule}
    for label, sched in schedules.items():
        xs, ys, stairs = _schedule_points(sched, steps)
        ax.plot(xs, 100 * ys, drawstyle="steps-post" if stairs else "default", marker="o" if stairs else None,
                label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("target sparsity (%)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Pruning schedule")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return fig


def sensitivity_scan(results, baseline: float | None = None, title: str | None = None) -> Figure:
    """Per-layer sensitivity: accuracy (%) when *only that layer* is pruned to each sparsity.

    ``results``: ``{layer name: (sparsities, accuracies)}`` (fractions). Flat curves mark layers that can be
    pruned hard; steep ones the sensitive layers to spare (Han et al. 2015, Fig. 6; Li et al. 2017, Fig. 2).
    """
    fig = sparsity_accuracy_curve(results, baseline, title or "Sensitivity: one layer pruned at a time")
    fig.axes[0].set_xlabel("sparsity of the pruned layer (%)")
    return fig


def latency_vs_sparsity(sparsities, timings: dict | None = None, crossover: float | None = None, per: str = "batch",
                        title: str | None = None, log: bool = True) -> Figure:
    """Measured time (ms) against sparsity (%), one line per implementation.

    ``timings``: ``{label: seconds}`` with one value per sparsity (or a scalar, drawn flat) — e.g. "dense",
    "masked dense", "CSR", "compacted". ``crossover``: a sparsity (fraction) to mark, where CSR starts to win.
    A :class:`minprune.metrics.SpeedSweep` can be passed as ``sparsities`` alone (``timings`` None).
    """
    if timings is None:
        sweep = sparsities
        sparsities = sweep.sparsities
        timings = {"dense": sweep.dense, "masked dense": sweep.masked, "CSR": sweep.csr,
                   "compacted (that fraction of rows removed)": sweep.compact}
        crossover = sweep.crossover if crossover is None else crossover
        title = title or f"Linear {sweep.in_features}→{sweep.out_features}, batch {sweep.batch_size}"
    s = 100 * np.asarray(sparsities, float)
    fig, ax = _figure()
    for label, t in timings.items():
        ax.plot(s, 1e3 * np.broadcast_to(np.asarray(t, float), s.shape), marker="o", label=label)
    if crossover is not None:
        ax.axvline(100 * crossover, linestyle=":", color="gray", label=f"CSR wins from {100 * crossover:.0f} %")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("sparsity (%)")
    ax.set_ylabel(f"time per {per} (ms" + (", log scale)" if log else ")"))
    ax.set_title(title or "Latency vs sparsity")
    ax.legend()
    return fig
