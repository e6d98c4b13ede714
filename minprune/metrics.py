"""Measuring a pruned model honestly: sparsity, parameters, bytes, multiply-accumulates, latency, accuracy.

The seed's §11 names four metrics; here they are, under those names:

==========================  ===============================================================================
``sparsity_percent(m)``     % of the Linear/Conv2d weights that are exactly zero (:func:`sparsity` has the
                            fraction, globally and per layer)
``model_size_reduction``    fraction of the non-zero parameters removed, 1 − nnz(pruned) / nnz(baseline)
``speedup``                 measured latency of the baseline / latency of the pruned model
``accuracy_drop``           accuracy(baseline) − accuracy(pruned), a fraction (0.003 = 0.3 points)
==========================  ===============================================================================

and the seed's §13 warning is why the others exist: zeros in a dense array do not make it smaller
(:func:`model_size_bytes` in the "dense" format does not change) and do not make the matrix product faster
(:func:`latency` does not change), although the *count* of useful multiply-accumulates (:func:`flops`, "sparse")
drops. Storage formats that skip the zeros (CSR, bitmask, :mod:`minprune.sparse`) and compaction (structured
pruning → smaller dense matrices, :func:`minprune.prune.compact`) are what turn zeros into bytes and seconds.
:func:`report` puts everything side by side for a baseline and a pruned model.

Conventions: "weights" are the ``weight`` parameters of Linear, Conv2d (and SparseLinear); pruned layers are
read through their *effective* weight ``weight_orig · weight_mask`` (recomputed, because ``module.weight`` is only
refreshed by the next forward pass). Fractions are in [0, 1]; only :func:`sparsity_percent` is in %.
"""
from __future__ import annotations

import copy
import html
import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import nn, train
from .data import DataLoader
from .nn.module import Module
from .prune.base import BasePruningMethod, current_value
from .sparse import SparseLinear, bitmask_nbytes, csr_nbytes
from .tensor import Tensor, no_grad

#: Layer types whose ``weight`` counts as "the weights" for sparsity and MACs.
WEIGHTED_LAYERS = (nn.Linear, nn.Conv2d, SparseLinear)
#: Storage formats understood by :func:`model_size_bytes`.
FORMATS = ("dense", "csr", "bitmask", "compact", "int8", "deep_compression")


# ---------------------------------------------------------------------------------------------------------------
# Effective arrays
# ---------------------------------------------------------------------------------------------------------------

def _pruned_names(module: Module) -> set:
    return {hook._tensor_name for hook in module._forward_pre_hooks.values() if isinstance(hook, BasePruningMethod)}


def module_parameters(module: Module) -> dict:
    """``{name: array}`` of ``module``'s own parameters as inference sees them.

    A pruned parameter appears under its plain name (``"weight"``, not ``"weight_orig"``) with the value
    ``weight_orig · weight_mask``; a :class:`~minprune.sparse.SparseLinear` contributes its CSR weight
    (decoded) and bias.
    """
    if isinstance(module, SparseLinear):
        arrays = {"weight": module.weight_csr.to_dense()}
        if module.bias is not None:
            arrays["bias"] = module.bias
        return arrays
    pruned = _pruned_names(module)
    arrays = {}
    for name, param in module._parameters.items():
        if param is None:
            continue
        base = name[:-len("_orig")] if name.endswith("_orig") and name[:-len("_orig")] in pruned else name
        arrays[base] = current_value(module, base) if base in pruned else param.data
    return arrays


def weighted_layers(model: Module) -> list:
    """``[(name, module)]`` of every Linear, Conv2d and SparseLinear of ``model``, in order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHTED_LAYERS)]


def layer_weights(model: Module, include_bias: bool = False) -> dict:
    """``{"fc1.weight": array, ...}``: the effective weight (``orig · mask`` when pruned) of every Linear, Conv2d
    and SparseLinear, with their biases too if ``include_bias``: what :func:`sparsity` counts."""
    out = {}
    for name, module in weighted_layers(model):
        arrays = module_parameters(module)
        prefix = f"{name}." if name else ""
        out[prefix + "weight"] = arrays["weight"]
        if include_bias and "bias" in arrays:
            out[prefix + "bias"] = arrays["bias"]
    return out


# ---------------------------------------------------------------------------------------------------------------
# Sparsity and parameter counts
# ---------------------------------------------------------------------------------------------------------------

def sparsity_of(weights) -> float:
    """The fraction of entries that are exactly zero among *all* entries of the arrays in ``weights``.

    ``weights``: a list (any iterable) of arrays of any shapes. The entries are pooled: global sparsity is
    (total zeros) / (total entries), which is *not* the mean of the per-array fractions when the arrays differ
    in size (fc1 of LeNet-300-100 has 235 200 weights, fc3 only 1 000). −0.0 is zero; NaN is not. Returns a
    Python float in [0, 1]; 0.0 when there are no entries at all.

    Example: [[0, 1], [2, 0]] and [0, 0, 0, 5, 6, 7] → (2 + 3) / (4 + 6) = 0.5.
    """
    # BEGIN SOLUTION
    arrays = [np.asarray(w) for w in weights]
    total = sum(a.size for a in arrays)
    if total == 0:
        return 0.0
    zeros = total - sum(int(np.count_nonzero(a)) for a in arrays)
    return zeros / total
    # END SOLUTION


class Sparsity(NamedTuple):
    """Result of :func:`sparsity`: ``overall`` fraction of zero weights (pooled over layers), ``layers``
    ``{"fc1.weight": fraction}``, and the counts ``zeros`` / ``total`` behind ``overall``."""
    overall: float
    layers: dict
    zeros: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.overall


def sparsity(model: Module, include_bias: bool = False) -> Sparsity:
    """Sparsity of ``model``'s weights: globally (pooled) and per layer, on the *effective* weights.

    Counts the ``weight`` of every Linear and Conv2d (and SparseLinear); ``include_bias=True`` adds their
    biases. BatchNorm scales and other parameters are not counted (they are not what weight pruning removes).
    """
    weights = layer_weights(model, include_bias)
    total = sum(w.size for w in weights.values())
    zeros = total - sum(int(np.count_nonzero(w)) for w in weights.values())
    return Sparsity(sparsity_of(weights.values()), {k: sparsity_of([w]) for k, w in weights.items()}, zeros, total)


def sparsity_percent(model: Module, include_bias: bool = False) -> float:
    """The seed's §11 "Sparsity (%)": percentage of the (Linear/Conv2d) weights that are zero."""
    return sparsity(model, include_bias).percent


class ParameterCount(NamedTuple):
    """``total`` parameters (every entry of every parameter) and how many are ``nonzero``."""
    total: int
    nonzero: int

    @property
    def zero(self) -> int:
        return self.total - self.nonzero


def count_parameters(model: Module) -> ParameterCount:
    """Count every parameter entry of ``model`` (weights, biases, BatchNorm scales …) and the non-zero ones.

    Pruned parameters are counted once, through their effective value (not ``_orig`` and ``_mask``
    separately). Masks and other buffers are not parameters. LeNet-300-100: total 266 610.
    """
    total = nonzero = 0
    for module in model.modules():
        for array in module_parameters(module).values():
            total += array.size
            nonzero += int(np.count_nonzero(array))
    return ParameterCount(total, nonzero)


def _nonzero_parameters(model_or_count) -> int:
    if isinstance(model_or_count, Module):
        return count_parameters(model_or_count).nonzero
    if isinstance(model_or_count, ParameterCount):
        return model_or_count.nonzero
    if isinstance(model_or_count, (int, np.integer)) and not isinstance(model_or_count, bool):
        return int(model_or_count)
    raise TypeError(f"expected a Module, a ParameterCount or an int count of non-zero parameters, "
                    f"got {type(model_or_count).__name__}")


def compression_ratio(baseline, pruned) -> float:
    """Non-zero parameters of ``baseline`` / non-zero parameters of ``pruned`` (Han et al. 2015's
    "compression rate": 12× for LeNet-300-100). Models, ParameterCounts or int counts."""
    b, p = _nonzero_parameters(baseline), _nonzero_parameters(pruned)
    if p == 0:
        raise ValueError("compression_ratio: the pruned model has no non-zero parameters")
    return b / p


def model_size_reduction(baseline, pruned) -> float:
    """The seed's §11 "Model Size Reduction" (decrease in the number of parameters), as a fraction:
    1 − non-zero(pruned) / non-zero(baseline). 0.9 means 90 % of the parameters are gone."""
    b, p = _nonzero_parameters(baseline), _nonzero_parameters(pruned)
    if b == 0:
        raise ValueError("model_size_reduction: the baseline has no non-zero parameters")
    return 1.0 - p / b


# ---------------------------------------------------------------------------------------------------------------
# Bytes
# ---------------------------------------------------------------------------------------------------------------

def inference_arrays(model: Module) -> dict:
    """``{dotted name: array}`` of what must be stored to run ``model``: every parameter (effective value) and
    the floating-point buffers inference reads (BatchNorm's running mean and variance). Pruning masks are not
    included (the zeros are in the effective weights) nor integer bookkeeping (``num_batches_tracked``)."""
    out = {}
    for prefix, module in model.named_modules():
        dotted = (lambda n: f"{prefix}.{n}") if prefix else (lambda n: n)
        for name, array in module_parameters(module).items():
            out[dotted(name)] = array
        for name, buffer in module._buffers.items():
            if buffer is not None and buffer.dtype.kind == "f" and not name.endswith("_mask"):
                out[dotted(name)] = buffer
    return out


def _value_bytes(dtype) -> int:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"model_size_bytes: dtype must be a NumPy float dtype such as np.float32 or np.float16, "
                        f"got {dtype!r}") from None
    if dt.kind != "f":
        raise ValueError(f"model_size_bytes: dtype must be a floating-point dtype (np.float32, np.float16), "
                         f"got {dt}")
    return dt.itemsize


def model_size_bytes(model: Module, format: str = "dense", dtype=np.float32) -> int:
    """Bytes needed to store ``model`` for inference (:func:`inference_arrays`) in a storage format.

    Values are counted at ``dtype``'s size (float32: 4 bytes, float16: 2); indices are int32 (4 bytes).
    Every parameter with ≥ 2 dims (weight matrices, conv filter banks) is stored in ``format``; 1-D
    parameters (biases, BatchNorm) and buffers are small and always stored dense.

    - ``"dense"``: size · value bytes — zeros cost as much as any other number;
    - ``"csr"``: each weight as the CSR of its 2-D view (out, in·kh·kw): nnz · (value bytes + 4 for the int32
      column index) + (rows + 1) · 4 for the int32 row pointers (:func:`minprune.sparse.csr_nbytes`); smaller
      than dense only past 50 % sparsity in float32;
    - ``"bitmask"``: 1 bit per entry (rounded up to whole bytes per array) + nnz · value bytes
      (:func:`minprune.sparse.bitmask_nbytes`);
    - ``"int8"``: 1 byte per weight + a float32 scale per output row (symmetric per-channel, as ``deploy``);
    - ``"deep_compression"``: the Huffman-coded k-means-shared weights with relative indices
      (:func:`minprune.related.deep_compression.encode_shared_weight`; the weights must be shared already);
    - ``"compact"``: the dense size of ``compact(model)`` — structured zeros (whole neurons, filters, channels)
      cut out; unstructured zeros stay and still cost their bytes. Raises TypeError for models that
      :func:`minprune.prune.compact` cannot handle.

    Example: Linear(3, 2) with weight [[0, 1, 0], [2, 0, 0]] and a bias, float32: dense 8 · 4 = 32 bytes;
    CSR 2 · (4 + 4) + 3 · 4 + 2 · 4 (bias) = 36; bitmask 1 + 2 · 4 + 8 = 17.
    """
    if format not in FORMATS:
        raise ValueError(f"model_size_bytes: format must be one of {FORMATS}, got {format!r}")
    value_bytes = _value_bytes(dtype)
    if format == "compact":
        from .prune.compact import compact

        small, _ = compact(model)
        return model_size_bytes(small, "dense", dtype)
    total = 0
    for array in inference_arrays(model).values():
        if format == "dense" or array.ndim < 2:
            total += array.size * value_bytes
        elif format == "csr":
            total += csr_nbytes(array.shape[0], int(np.count_nonzero(array)), value_bytes)
        elif format == "bitmask":
            total += bitmask_nbytes(array.size, int(np.count_nonzero(array)), value_bytes)
        elif format == "int8":
            total += array.size + 4 * array.shape[0]   # 1 byte per weight + one float32 scale per output row
        else:
            from .related.deep_compression import encode_shared_weight
            total += encode_shared_weight(array).nbytes  # Huffman streams + codebook + code lengths
    return total


# ---------------------------------------------------------------------------------------------------------------
# Multiply-accumulates
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class LayerMACs:
    """Multiply-accumulates of one layer for one forward pass: ``dense`` (every weight), ``sparse`` (only the
    non-zero weights), with the layer's type, weight shape and output shape."""
    kind: str
    weight_shape: tuple
    output_shape: tuple
    dense: int = 0
    sparse: int = 0


@dataclass
class FlopCount:
    """Result of :func:`flops`: per-layer :class:`LayerMACs` and the totals, in multiply-accumulates (MACs).

    ``dense_flops`` / ``sparse_flops`` are 2 × MACs (one multiply + one add), for tables that want FLOPs.
    """
    input_shape: tuple
    layers: dict = field(default_factory=dict)

    @property
    def dense(self) -> int:
        return sum(layer.dense for layer in self.layers.values())

    @property
    def sparse(self) -> int:
        return sum(layer.sparse for layer in self.layers.values())

    @property
    def dense_flops(self) -> int:
        return 2 * self.dense

    @property
    def sparse_flops(self) -> int:
        return 2 * self.sparse

    @property
    def reduction(self) -> float:
        """dense / sparse MACs: how many times fewer useful multiply-accumulates remain."""
        return self.dense / self.sparse if self.sparse else math.inf

    def __str__(self):
        width = max([5] + [len(n) for n in self.layers])
        lines = [f"{'layer':<{width}}  {'kind':<12} {'dense MACs':>14} {'non-zero MACs':>14}"]
        for name, layer in self.layers.items():
            lines.append(f"{name:<{width}}  {layer.kind:<12} {layer.dense:>14,} {layer.sparse:>14,}")
        lines.append(f"{'total':<{width}}  {'':<12} {self.dense:>14,} {self.sparse:>14,}")
        return "\n".join(lines) + f"\n(input shape {self.input_shape}; FLOPs = 2 × MACs)"


def flops(model: Module, input_shape) -> FlopCount:
    """Multiply-accumulates (MACs) of one forward pass of an input of shape ``input_shape`` (batch included),
    per Linear / Conv2d layer: dense (every weight) and sparse (only non-zero weights). FLOPs = 2 × MACs.

    - Linear, input (M, in) (or (..., in), M = product of the leading dims), weight (out, in):
      dense = M · out · in, sparse = M · nnz(W);
    - Conv2d, output (N, C_out, H_out, W_out), weight (C_out, C_in/groups, kh, kw):
      dense = N · H_out · W_out · C_out · (C_in/groups) · kh · kw, sparse = N · H_out · W_out · nnz(W)
      (each non-zero filter tap is used once per output position).

    Bias additions, activations, normalisation and pooling are not counted (cheap elementwise work, as most
    FLOP counters do). The shapes are found by running the model once on zeros of ``input_shape`` (eval mode,
    no graph) with forward hooks on the weighted layers; a layer called twice is counted twice.
    Example: LeNet-5's conv1 (1→6, 5×5, padding 2) on (1, 1, 28, 28): 28 · 28 · 6 · 1 · 5 · 5 = 117 600 MACs.
    """
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise TypeError(f"flops: input_shape must be a tuple of ints such as (1, 1, 28, 28), "
                        f"got {input_shape!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"flops: input_shape must be non-empty positive sizes (batch first), got {input_shape!r}")
    result = FlopCount(shape)
    names = {id(m): n for n, m in weighted_layers(model)}

    def hook(module, inputs, output):
        weight = module_parameters(module)["weight"]
        nnz = int(np.count_nonzero(weight))
        out_shape = tuple(output.shape)
        if isinstance(module, nn.Conv2d):
            positions = out_shape[0] * out_shape[2] * out_shape[3]     # N · H_out · W_out
        else:
            positions = int(np.prod(inputs[0].shape[:-1], dtype=np.int64))  # rows fed to the Linear
        layer = result.layers.setdefault(names[id(module)], LayerMACs(type(module).__name__, weight.shape, out_shape))
        layer.dense += positions * weight.size
        layer.sparse += positions * nnz

    handles = [m.register_forward_hook(hook) for _, m in weighted_layers(model)]
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(np.zeros(shape, dtype=np.float32))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return result


# ---------------------------------------------------------------------------------------------------------------
# Latency and speedup
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Latency:
    """Wall-clock time of one forward pass on a batch: ``median`` and ``spread`` (interquartile range,
    p75 − p25) in seconds, over ``repeats`` timed runs after ``warmup`` untimed ones; ``min`` and all
    ``times`` too. ``batch_size`` is the number of samples per pass."""
    median: float
    spread: float
    min: float
    batch_size: int
    repeats: int
    times: np.ndarray = field(repr=False)

    @property
    def per_sample(self) -> float:
        return self.median / self.batch_size

    def __str__(self):
        return (f"{self.median * 1e3:.3f} ms (IQR {self.spread * 1e3:.3f} ms) per batch of {self.batch_size}, "
                f"median of {self.repeats} runs")


def _check_repeats(repeats, warmup):
    for name, value, low in (("repeats", repeats, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"latency: {name} must be an int, got {value!r} ({type(value).__name__})")
        if value < low:
            raise ValueError(f"latency: {name} must be >= {low}, got {value}")


def _runner(model, x):
    """A no-argument function running one inference pass of ``model`` on ``x``."""
    if not callable(model):
        raise TypeError(f"latency: model must be a Module or a callable, got {type(model).__name__}")
    return lambda: model(x)


def _batch_of(x) -> int:
    shape = np.shape(x.data if isinstance(x, Tensor) else x)
    return int(shape[0]) if shape else 1


def compare_latency(models, x, repeats: int = 20, warmup: int = 3) -> list:
    """:class:`Latency` of each model in ``models`` on the same input, measured *interleaved* (run 1 of every
    model, then run 2 of every model, …) so that a slow spell of a shared machine hits all alike.

    Modules run in eval mode without recording a graph (their mode is restored afterwards); any other callable
    is called as ``f(x)``. ``repeats`` ≥ 1 timed runs, after ``warmup`` ≥ 0 untimed ones (caches, allocator).
    """
    _check_repeats(repeats, warmup)
    runners = [_runner(m, x) for m in models]
    modes = [(m, m.training) for m in models if isinstance(m, Module)]
    times = np.zeros((len(runners), repeats))
    try:
        for m, _ in modes:
            m.eval()
        with no_grad():
            for _ in range(warmup):
                for run in runners:
                    run()
            for r in range(repeats):
                for i, run in enumerate(runners):
                    start = time.perf_counter()
                    run()
                    times[i, r] = time.perf_counter() - start
    finally:
        for m, mode in modes:
            m.train(mode)
    batch = _batch_of(x)
    result = []
    for row in times:
        q25, q50, q75 = np.percentile(row, [25, 50, 75])
        result.append(Latency(float(q50), float(q75 - q25), float(row.min()), batch, repeats, row))
    return result


def latency(model, x, repeats: int = 20, warmup: int = 3) -> Latency:
    """Wall-clock time of ``model(x)`` for one batch ``x`` (batch size = ``len(x)``): median and spread (IQR)
    over ``repeats`` runs after ``warmup`` untimed runs, in eval mode without a graph.

    The median resists the occasional slow run of a shared machine; report the batch size with it, since
    per-sample cost depends strongly on it (a batch of 1 is a matrix-vector product, a batch of 64 a GEMM).
    ``repeats`` ≤ 0 raises ValueError.
    """
    return compare_latency([model], x, repeats, warmup)[0]


def _seconds(value) -> float:
    if isinstance(value, Latency):
        return value.median
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"speedup: expected Latency objects or seconds, got {type(value).__name__}")


def speedup(baseline, pruned, x=None, repeats: int = 20, warmup: int = 3) -> float:
    """The seed's §11 "Speedup": latency of ``baseline`` / latency of ``pruned`` (> 1 means faster).

    Either two measurements (:class:`Latency` objects or seconds), or two models and an input ``x``: then both
    are timed interleaved (:func:`compare_latency`) and the ratio of the medians is returned.
    """
    if isinstance(baseline, Module) or isinstance(pruned, Module):
        if x is None:
            raise ValueError("speedup: to time two models, pass the input batch x")
        baseline, pruned = compare_latency([baseline, pruned], x, repeats, warmup)
    b, p = _seconds(baseline), _seconds(pruned)
    if p <= 0:
        raise ValueError(f"speedup: the pruned latency must be > 0 seconds, got {p}")
    return b / p


# ---------------------------------------------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------------------------------------------

def _loader(data, batch_size: int = 1000):
    return data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)


def accuracy(model: Module, data, batch_size: int = 1000) -> float:
    """Fraction of ``data`` classified correctly (``train.evaluate``: eval mode, no graph, mode restored).

    ``data``: a DataLoader, a dataset such as ``data.mnist("test")``, or an ``(x, y)`` tuple of arrays.
    """
    return train.evaluate(model, _loader(data, batch_size)).accuracy


def accuracy_drop(baseline, pruned, data=None) -> float:
    """The seed's §11 "Accuracy Drop": accuracy(baseline) − accuracy(pruned), a fraction (0.003 = 0.3 points;
    negative if pruning improved accuracy). Pass two accuracies, or two models and ``data``."""
    if isinstance(baseline, Module) or isinstance(pruned, Module):
        if data is None:
            raise ValueError("accuracy_drop: to evaluate two models, pass the data")
        baseline, pruned = accuracy(baseline, data), accuracy(pruned, data)
    return float(baseline) - float(pruned)


# ---------------------------------------------------------------------------------------------------------------
# A single layer's speed: dense, masked, CSR and compacted
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class SpeedSweep:
    """Timings of one Linear layer (``out_features`` × ``in_features``, batch ``batch_size``) at several
    sparsities: the best (minimum) of interleaved repeats, in seconds, for

    - ``dense``: x Wᵀ with the full weight (the unpruned layer);
    - ``masked``: x (W ⊙ M)ᵀ — what a pruned layer does (the pre-hook multiplies by the mask each forward);
    - ``csr``: the CSR kernel on the unstructured-pruned weight (:class:`minprune.sparse.SparseLinear`'s path);
    - ``compact``: x W_kᵀ with the same *fraction of rows* removed (structured pruning after compaction).
    """
    out_features: int
    in_features: int
    batch_size: int
    sparsities: np.ndarray
    dense: np.ndarray
    masked: np.ndarray
    csr: np.ndarray
    compact: np.ndarray

    @property
    def flop_ratio(self) -> np.ndarray:
        """Dense MACs / compacted MACs = rows / kept rows."""
        kept = np.maximum(self.out_features - np.round(self.sparsities * self.out_features), 1)
        return self.out_features / kept

    @property
    def compaction_speedup(self) -> np.ndarray:
        return self.dense / self.compact

    @property
    def compaction_efficiency(self) -> np.ndarray:
        """Measured compaction speedup / FLOP ratio (1.0 = the speedup the arithmetic promises)."""
        return self.compaction_speedup / self.flop_ratio

    @property
    def crossover(self) -> float | None:
        """The lowest measured sparsity from which on the CSR kernel beats the dense GEMM (None if never)."""
        wins = self.csr < self.dense
        for i in range(len(wins)):
            if wins[i:].all():
                return float(self.sparsities[i])
        return None

    def __str__(self):
        lines = [f"Linear {self.in_features}→{self.out_features}, batch {self.batch_size} (min of repeats, ms)",
                 f"{'sparsity':>8} {'dense':>8} {'masked':>8} {'CSR':>8} {'compact':>8} {'CSR/dense':>9} "
                 f"{'compact speedup':>15} {'FLOP ratio':>10} {'efficiency':>10}"]
        for i, s in enumerate(self.sparsities):
            lines.append(f"{100 * s:>7.0f}% {1e3 * self.dense[i]:>8.3f} {1e3 * self.masked[i]:>8.3f} "
                         f"{1e3 * self.csr[i]:>8.3f} {1e3 * self.compact[i]:>8.3f} "
                         f"{self.csr[i] / self.dense[i]:>9.2f} {self.compaction_speedup[i]:>15.2f} "
                         f"{self.flop_ratio[i]:>10.2f} {self.compaction_efficiency[i]:>10.2f}")
        cross = self.crossover
        lines.append("CSR beats dense from " + (f"{100 * cross:.0f} % sparsity on" if cross is not None
                                                else "no measured sparsity (never)"))
        return "\n".join(lines)


def layer_speed_sweep(out_features: int, in_features: int, sparsities, batch_size: int = 64, repeats: int = 7,
                      rng=None) -> SpeedSweep:
    """Time one random Linear layer dense, masked, as CSR and compacted at each sparsity (see
    :class:`SpeedSweep`). Unstructured masks prune exactly round(s · size) random weights; compaction keeps
    round((1 − s) · out_features) rows (at least 1). The four variants are timed in interleaved rounds, each
    timed run right after an untimed one (so no variant pays for the cache the previous one evicted), and the
    minimum of ``repeats`` is kept (the run least disturbed by other processes)."""
    from .sparse import CSRMatrix

    _check_repeats(repeats, 0)
    rng = np.random.default_rng(0) if rng is None else rng
    sparsities = np.asarray(sparsities, dtype=np.float64)
    if sparsities.ndim != 1 or not np.all((sparsities >= 0) & (sparsities < 1)):
        raise ValueError(f"layer_speed_sweep: sparsities must be a list of fractions in [0, 1), got {sparsities}")
    x = rng.standard_normal((batch_size, in_features)).astype(np.float32)
    w = rng.standard_normal((out_features, in_features)).astype(np.float32)
    results = {key: np.zeros(len(sparsities)) for key in ("dense", "masked", "csr", "compact")}
    for i, s in enumerate(sparsities):
        mask = np.ones(w.size, dtype=np.float32)
        mask[rng.permutation(w.size)[:round(s * w.size)]] = 0
        mask = mask.reshape(w.shape)
        csr = CSRMatrix.from_dense(w * mask)
        kept = np.ascontiguousarray(w[:max(out_features - round(s * out_features), 1)])
        runs = {
            "dense": lambda: x @ w.T,
            "masked": lambda: x @ (w * mask).T,
            "csr": lambda: (csr @ x.T).T,
            "compact": lambda: x @ kept.T,
        }
        best = {key: math.inf for key in runs}
        for _ in range(repeats):
            for key, run in runs.items():
                run()  # untimed: warms the caches after the previous configuration evicted them
                start = time.perf_counter()
                run()
                best[key] = min(best[key], time.perf_counter() - start)
        for key in runs:
            results[key][i] = best[key]
    return SpeedSweep(out_features, in_features, batch_size, sparsities, **results)


# ---------------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------------

def _layer_signature(model: Module) -> list:
    kinds = {SparseLinear: "Linear"}
    return [(name, kinds.get(type(m), type(m).__name__)) for name, m in model.named_modules() if name]


def check_same_architecture(baseline: Module, pruned: Module) -> None:
    """Raise ValueError unless ``pruned`` is ``baseline``'s architecture with weights masked or cut out.

    Same module names and types in the same order (a SparseLinear stands for a Linear), and no weight larger
    than the baseline's (compaction only removes rows and columns).
    """
    a, b = _layer_signature(baseline), _layer_signature(pruned)
    if a != b:
        only_a = [f"{n} ({k})" for n, k in a if (n, k) not in b]
        only_b = [f"{n} ({k})" for n, k in b if (n, k) not in a]
        raise ValueError(f"report: baseline ({type(baseline).__name__}) and pruned ({type(pruned).__name__}) "
                         f"have different architectures; layers only in the baseline: {only_a[:5]}, only in the "
                         f"pruned model: {only_b[:5]}. Compare a model with a pruned copy of itself.")
    pruned_weights = layer_weights(pruned, include_bias=False)
    for name, weight in layer_weights(baseline, include_bias=False).items():
        other = pruned_weights[name]
        if other.ndim != weight.ndim or any(p > q for p, q in zip(other.shape, weight.shape)):
            raise ValueError(f"report: {name} has shape {weight.shape} in the baseline but {other.shape} in the "
                             "pruned model; pruning may only mask or remove entries")


def _first_inputs(data, n: int):
    """The first ``n`` inputs of ``data`` (a DataLoader, a dataset or an (x, y) tuple)."""
    if isinstance(data, tuple) and len(data) == 2:
        return np.asarray(data[0])[:n]
    if isinstance(data, DataLoader):
        data = data.dataset
    if hasattr(data, "x"):
        return np.asarray(data.x)[:n]
    x, _ = data[np.arange(min(n, len(data)))]
    return np.asarray(x)


def _len(data) -> int:
    if isinstance(data, tuple) and len(data) == 2:
        return len(data[0])
    if isinstance(data, DataLoader):
        return len(data.dataset)
    return len(data)


def _compact_size(model):
    try:
        return model_size_bytes(model, "compact")
    except (TypeError, ValueError):
        return None  # compact() does not handle this architecture: "n/a" in the report


def _model_summary(model, data, input_shape, include_sizes=True) -> dict:
    spars = sparsity(model)
    params = count_parameters(model)
    macs = flops(model, input_shape)
    summary = {
        "accuracy": accuracy(model, data),
        "sparsity": spars.overall,
        "layer_sparsity": dict(spars.layers),
        "parameters": {"total": params.total, "nonzero": params.nonzero},
        "size_bytes": {fmt: model_size_bytes(model, fmt) for fmt in ("dense", "csr", "bitmask")},
        "macs": {"dense": macs.dense, "sparse": macs.sparse},
    }
    summary["size_bytes"]["compact"] = _compact_size(model)
    return summary


def _latency_dict(lat: Latency | None):
    if lat is None:
        return None
    return {"median": lat.median, "spread": lat.spread, "min": lat.min, "batch_size": lat.batch_size,
            "repeats": lat.repeats}


class Report:
    """Baseline vs pruned, side by side. ``print(report)`` shows a table; in Jupyter it renders as an HTML
    table; ``report.to_dict()`` gives every number (fractions, bytes, MACs, seconds).

    ``report["speedup"]`` etc. read the summary: the seed's four metrics ``sparsity_percent``,
    ``model_size_reduction``, ``speedup``, ``accuracy_drop``, plus ``compression_ratio``.
    """

    def __init__(self, data: dict):
        self._data = data

    def to_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def __getitem__(self, key):
        return self._data["summary"][key]

    # ---- the table, as rows of strings
    def rows(self) -> list:
        """``[(metric, baseline, pruned, change)]`` strings, the table every renderer prints."""
        b, p, s = self._data["baseline"], self._data["pruned"], self._data["summary"]
        pct = lambda v: f"{100 * v:.2f} %"  # noqa: E731
        num = lambda v: "n/a" if v is None else f"{v:,}"  # noqa: E731
        ratio = lambda x, y: "n/a" if x is None or y is None or y == 0 else f"{x / y:.2f}×"  # noqa: E731
        ms = lambda lat: "n/a" if lat is None else f"{1e3 * lat['median']:.3f} ms"  # noqa: E731
        rows = [
            ("accuracy", pct(b["accuracy"]), pct(p["accuracy"]),
             f"{'drop' if s['accuracy_drop'] >= 0 else 'gain'} {100 * abs(s['accuracy_drop']):.2f} pt"),
            ("sparsity (Linear/Conv weights)", pct(b["sparsity"]), pct(p["sparsity"]), ""),
        ]
        for name in b["layer_sparsity"]:
            rows.append((f"  {name}", pct(b["layer_sparsity"][name]), pct(p["layer_sparsity"][name]), ""))
        rows += [
            ("parameters, total", num(b["parameters"]["total"]), num(p["parameters"]["total"]), ""),
            ("parameters, non-zero", num(b["parameters"]["nonzero"]), num(p["parameters"]["nonzero"]),
             f"{s['compression_ratio']:.2f}× fewer (size reduction {100 * s['model_size_reduction']:.1f} %)"),
        ]
        labels = {"dense": "size dense float32 (B)", "csr": "size CSR, int32 indices (B)",
                  "bitmask": "size bitmask (B)", "compact": "size compacted, dense (B)"}
        base_dense = b["size_bytes"]["dense"]
        for fmt, label in labels.items():
            size = p["size_bytes"][fmt]
            change = "" if size is None else (f"{base_dense / size:.2f}× smaller than the dense baseline"
                                              if size <= base_dense else
                                              f"{size / base_dense:.2f}× larger than the dense baseline")
            rows.append((label, num(b["size_bytes"][fmt]), num(size), change))
        rows += [
            ("MACs, dense", num(b["macs"]["dense"]), num(p["macs"]["dense"]), ""),
            ("MACs, non-zero weights", num(b["macs"]["sparse"]), num(p["macs"]["sparse"]),
             f"{ratio(b['macs']['sparse'], p['macs']['sparse'])} fewer"),
            ("latency (model as given)", ms(b["latency"]), ms(p["latency"]), f"speedup {s['speedup']:.2f}×"),
        ]
        for key, label in (("latency_compacted", "latency compacted"), ("latency_csr", "latency CSR (sparsify)")):
            if key in p:
                lat = p[key]
                rows.append((label, "", ms(lat), "n/a" if lat is None else
                             f"speedup {b['latency']['median'] / lat['median']:.2f}×"))
        return rows

    def _caption(self) -> str:
        d = self._data
        return (f"Pruning report: accuracy on {d['samples']:,} samples; MACs for one input {d['input_shape']} "
                f"(FLOPs = 2 × MACs); latency = median of {d['repeats']} interleaved runs on a batch of "
                f"{d['batch_size']}.")

    def __str__(self):
        header = ("metric", "baseline", "pruned", "change")
        rows = [header] + self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [self._caption()]
        for k, row in enumerate(rows):
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip())
            if k == 0:
                lines.append("-" * (sum(widths) + 6))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_markdown_(self):
        lines = [self._caption(), "", "| metric | baseline | pruned | change |", "|---|---:|---:|---|"]
        lines += [f"| {m.strip() if not m.startswith('  ') else '&nbsp;&nbsp;' + m.strip()} | {b} | {p} | {c} |"
                  for m, b, p, c in self.rows()]
        return "\n".join(lines)

    def _repr_html_(self):
        esc = html.escape
        body = "".join(
            f"<tr><td style='text-align:left;padding-left:{1.5 if m.startswith('  ') else 0}em'>{esc(m.strip())}"
            f"</td><td>{esc(b)}</td><td>{esc(p)}</td><td style='text-align:left'>{esc(c)}</td></tr>"
            for m, b, p, c in self.rows())
        return (f"<table><caption style='text-align:left'>{esc(self._caption())}</caption>"
                "<thead><tr><th style='text-align:left'>metric</th><th>baseline</th><th>pruned</th>"
                f"<th style='text-align:left'>change</th></tr></thead><tbody>{body}</tbody></table>")


def report(baseline: Module, pruned: Module, data, batch_size: int = 64, repeats: int = 20, warmup: int = 3,
           input_shape=None, variants: bool = True) -> Report:
    """Compare ``baseline`` and ``pruned`` on every metric of this module (DESIGN §4) and return a :class:`Report`.

    Args:
        data: evaluation data (DataLoader, dataset or (x, y)); its first ``batch_size`` inputs are the latency
            batch, and one input's shape is the MAC count's ``input_shape`` unless given.
        repeats, warmup: latency runs (both models timed interleaved, medians compared).
        variants: also time the pruned model compacted (``prune.compact``, when it can handle the model) and
            with its Linear layers as CSR (``sparse.sparsify``) — where real speed may come from.

    ``pruned`` must be ``baseline``'s architecture (same layer names and types; weights masked or cut out by
    compaction): anything else raises ValueError.
    """
    check_same_architecture(baseline, pruned)
    _check_repeats(repeats, warmup)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"report: batch_size must be a positive int, got {batch_size!r}")
    x = _first_inputs(data, batch_size)
    if len(x) == 0:
        raise ValueError("report: data holds no samples")
    input_shape = (1,) + tuple(x.shape[1:]) if input_shape is None else tuple(input_shape)
    base = _model_summary(baseline, data, input_shape)
    prun = _model_summary(pruned, data, input_shape)
    candidates = [baseline, pruned]
    if variants:
        from .prune.compact import compact
        from .sparse import sparsify

        try:
            compacted = compact(pruned)[0]
        except (TypeError, ValueError):
            compacted = None
        candidates += [compacted, sparsify(pruned)]
    measured = compare_latency([m for m in candidates if m is not None], x, repeats, warmup)
    latencies = iter(measured)
    lats = [next(latencies) if m is not None else None for m in candidates]
    base["latency"], prun["latency"] = _latency_dict(lats[0]), _latency_dict(lats[1])
    if variants:
        prun["latency_compacted"], prun["latency_csr"] = _latency_dict(lats[2]), _latency_dict(lats[3])
    summary = {
        "sparsity_percent": 100 * prun["sparsity"],
        "model_size_reduction": model_size_reduction(base["parameters"]["nonzero"], prun["parameters"]["nonzero"]),
        "speedup": speedup(lats[0], lats[1]),
        "accuracy_drop": accuracy_drop(base["accuracy"], prun["accuracy"]),
        "compression_ratio": compression_ratio(base["parameters"]["nonzero"], prun["parameters"]["nonzero"]),
    }
    return Report({"summary": summary, "baseline": base, "pruned": prun, "samples": _len(data),
                   "input_shape": input_shape, "batch_size": len(x), "repeats": repeats})
