"""Does dependency-aware structured pruning pay off in wall-clock time?

    python benchmarks/bench_structured.py [--repeats 20] [--batch 64]

For ResNetMini (one residual stage, identity skips) and MobileNetMini (depthwise-separable blocks), remove about
30 / 50 / 70 % of the multiply-accumulates with ``prune.structured_prune`` (local scope, L2 group importance; the
amount is chosen by bisection so that the MACs removed are as close to the target as the channel counts allow),
then time one forward pass of a batch of 64 (eval mode, no graph) of the dense and the three pruned models.

Printed per model and target: the fraction of MACs actually removed, the MAC ratio dense / pruned, parameters,
the measured speedup dense / pruned, and speedup ÷ MAC ratio — how much of the theoretical gain is real
(issue 9's target: ≥ 0.8). Pruned models are ordinary dense models with fewer channels, so every GEMM shrinks;
what does not shrink (im2col copies, BatchNorm, ReLU, pooling, Python overhead per layer) keeps the ratio below 1.

Times are minima over interleaved repeats (``metrics.compare_latency``: run 1 of every model, run 2 of every
model, …), with two BLAS threads. The weights are random (speed does not depend on them).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import argparse  # noqa: E402

import numpy as np  # noqa: E402

from minprune import metrics, models, prune  # noqa: E402

TARGETS = (0.3, 0.5, 0.7)


def prune_to_macs(model, x, target: float, steps: int = 14):
    """Bisection on the per-group amount: the structured_prune result whose removed MAC fraction is closest to
    ``target``. Returns (pruned model, report, amount)."""
    lo, hi, best = 0.0, 0.9, None
    for _ in range(steps):
        amount = (lo + hi) / 2
        pruned, report = prune.structured_prune(model, x, amount)
        removed = 1 - report["macs_after"] / report["macs_before"]
        if best is None or abs(removed - target) < abs(best[3] - target):
            best = (pruned, report, amount, removed)
        lo, hi = (amount, hi) if removed < target else (lo, amount)
    return best[:3]


def bench(name, model, x, repeats):
    dense_macs = metrics.flops(model, x.shape).dense
    dense_params = sum(p.size for p in model.parameters())
    variants = [prune_to_macs(model, x, t) for t in TARGETS]
    timings = metrics.compare_latency([model] + [v[0] for v in variants], x, repeats=repeats, warmup=3)
    dense_t = timings[0].min
    print(f"\n{name}: batch {len(x)}, dense {dense_macs / 1e6:.1f} M MACs, {dense_params:,} parameters, "
          f"{dense_t * 1e3:.2f} ms")
    print(f"{'target':>7} {'amount':>7} {'removed':>8} {'MAC ratio':>10} {'params':>9} {'ms':>8} "
          f"{'speedup':>8} {'speedup/MAC ratio':>18}")
    for target, (pruned, report, amount), timing in zip(TARGETS, variants, timings[1:]):
        mac_ratio = report["macs_before"] / report["macs_after"]
        speed = dense_t / timing.min
        print(f"{target:>7.0%} {amount:>7.3f} {1 - 1 / mac_ratio:>8.1%} {mac_ratio:>9.2f}x "
              f"{report['parameters_after']:>9,} {timing.min * 1e3:>8.2f} {speed:>7.2f}x {speed / mac_ratio:>12.2f}"
              f"{'  (target >= 0.8)' if speed / mac_ratio < 0.8 else ''}")
    widths = variants[1][1]["widths"]
    print("  widths at 50 %: " + ", ".join(f"{k} {a}→{b}" for k, (a, b) in widths.items() if a != b))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"BLAS threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, times are minima of {args.repeats} "
          "interleaved repeats")
    x = np.random.default_rng(1).standard_normal((args.batch, 1, 28, 28)).astype(np.float32)
    bench("ResNetMini (16 channels, 3 blocks)", models.ResNetMini(rng=np.random.default_rng(0)), x, args.repeats)
    bench("ResNetMini wide_blocks=2 (projection stage)",
          models.ResNetMini(wide_blocks=2, rng=np.random.default_rng(0)), x, args.repeats)
    bench("MobileNetMini (16, 32, 32, 64)", models.MobileNetMini(rng=np.random.default_rng(0)), x, args.repeats)


if __name__ == "__main__":
    main()
