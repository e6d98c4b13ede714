"""How much pruning itself costs: computing masks, and training with masks in place.

    python benchmarks/bench_prune.py [--repeats 5]

1. Mask computation for 1 M – 10 M weights: ``magnitude_mask`` (``np.partition``, O(n)) against a full sort
   (``np.argsort``, O(n log n)) — why minprune never sorts to find a threshold.
2. Masked training: one epoch of LeNet-300-100 (8 000 samples, batch 64, SGD momentum) dense, and with every
   layer pruned to 90 % (the pre-hook multiplies weight_orig by the mask before each forward).
   DESIGN §4 target: masked / dense ≤ 1.10 at batch 64 (the issue's 1.05 is below the cost of the multiply).
Times are minima over interleaved repeats, with two BLAS threads.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from minprune import functional as F, models, optim, prune  # noqa: E402


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_masks(repeats: int):
    rng = np.random.default_rng(0)
    print("mask computation (30 % pruned):")
    print(f"{'weights':>12} {'partition':>11} {'full sort':>11} {'ratio':>7}")
    for n in (1_000_000, 3_000_000, 10_000_000):
        w = rng.standard_normal(n).astype(np.float32)
        fast = best_time(lambda: prune.magnitude_mask(w, 0.3), repeats)
        def full_sort():
            mask = np.ones(n, np.float32)
            mask[np.argsort(np.abs(w), kind="stable")[:round(0.3 * n)]] = 0
        slow = best_time(full_sort, repeats)
        print(f"{n:>12,} {fast * 1e3:>9.1f}ms {slow * 1e3:>9.1f}ms {slow / fast:>6.1f}x")


def epoch(model, optimizer, x, y, batch=64):
    for i in range(0, len(x), batch):
        loss = F.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def bench_masked_training(repeats: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8000, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 8000)
    dense = models.LeNet300_100(rng=np.random.default_rng(0))
    masked = models.LeNet300_100(rng=np.random.default_rng(0))
    prune.prune_model(masked, 0.9)
    runs = {"dense": (dense, optim.SGD(dense.parameters(), lr=0.01, momentum=0.9)),
            "masked 90%": (masked, optim.SGD(masked.parameters(), lr=0.01, momentum=0.9))}
    times = {name: [] for name in runs}
    for _ in range(repeats):  # interleaved, so both see the same machine load
        for name, (model, opt) in runs.items():
            start = time.perf_counter()
            epoch(model, opt, x, y)
            times[name].append(time.perf_counter() - start)
    dense_t, masked_t = min(times["dense"]), min(times["masked 90%"])
    print("\nLeNet-300-100, one epoch of 8 000 samples, batch 64:")
    print(f"  dense  {dense_t:.3f} s   masked {masked_t:.3f} s   masked/dense {masked_t / dense_t:.3f} "
          f"(target <= 1.10)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bench_masks(args.repeats)
    bench_masked_training(args.repeats)


if __name__ == "__main__":
    main()
