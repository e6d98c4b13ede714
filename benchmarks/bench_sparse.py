"""When does sparsity pay? One Linear layer, dense vs masked vs CSR vs compacted, at sparsities 0–99 %.

    python benchmarks/bench_sparse.py [--repeats 7] [--batch 64,1] [--layers 1024x1024,300x784]

For each layer (out × in) and batch size, at each sparsity s it times (minimum of interleaved repeats):

- dense:    x Wᵀ, the unpruned layer (one BLAS GEMM);
- masked:   x (W ⊙ M)ᵀ with round(s · size) random weights masked — what a pruned layer does every forward;
- CSR:      minprune's vectorized CSR kernel on the same unstructured-sparse weight (SparseLinear's path);
- compact:  x W_kᵀ with the same fraction s of *rows* removed — structured pruning after compaction;
- scipy:    scipy.sparse's CSR product, a C kernel, for reference (only if SciPy is installed).

and prints the measured **crossover** (the sparsity from which on the CSR kernel beats the dense GEMM) and the
**compaction efficiency** = measured speedup / FLOP ratio, against DESIGN §4's targets: ≥ 0.9 with 50–70 % of the
rows removed, ≥ 0.65 at 90 % (for batches of ≥ 16: GEMMs). Before timing, every kernel's output is checked against the dense masked product.
Two BLAS threads by default (export OPENBLAS_NUM_THREADS=1 to compare single-threaded kernels like for like).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from minprune import metrics  # noqa: E402
from minprune.sparse import CSRMatrix, csr_matmul  # noqa: E402

SPARSITIES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]
TARGETS = {0.5: 0.9, 0.6: 0.9, 0.7: 0.9, 0.9: 0.65}  # rows removed → minimum compaction efficiency
MIN_TARGET_BATCH = 16


def check_kernels(out_features, in_features, batch, rng):
    """Every timed kernel computes the same product as the dense masked GEMM (so no kernel skips work)."""
    x = rng.standard_normal((batch, in_features)).astype(np.float32)
    w = rng.standard_normal((out_features, in_features)).astype(np.float32)
    w[rng.random(w.shape) < 0.9] = 0
    w[: out_features // 10] = 0  # some empty rows
    expected = x @ w.T
    got = (CSRMatrix.from_dense(w) @ x.T).T
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def naive_csr_matmul(csr, b):
    """The loop the vectorized kernel avoids: one Python iteration per row."""
    out = np.zeros((len(csr.row_ptr) - 1, b.shape[1]), dtype=np.float32)
    for r in range(len(out)):
        lo, hi = csr.row_ptr[r], csr.row_ptr[r + 1]
        out[r] = csr.values[lo:hi] @ b[csr.col_idx[lo:hi]]
    return out


def best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        fn()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def scipy_times(out_features, in_features, batch, sparsities, repeats, seed):
    try:
        import scipy.sparse
    except ImportError:
        return None
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, in_features)).astype(np.float32)
    w = rng.standard_normal((out_features, in_features)).astype(np.float32)
    times = []
    for s in sparsities:
        mask = np.ones(w.size, dtype=np.float32)
        mask[rng.permutation(w.size)[:round(s * w.size)]] = 0
        a = scipy.sparse.csr_matrix(w * mask.reshape(w.shape))
        times.append(best_time(lambda: (a @ x.T).T, repeats))
    return np.array(times)


def run(out_features, in_features, batch, repeats, seed):
    rng = np.random.default_rng(seed)
    check_kernels(out_features, in_features, batch, rng)
    sweep = metrics.layer_speed_sweep(out_features, in_features, SPARSITIES, batch_size=batch, repeats=repeats,
                                      rng=np.random.default_rng(seed))
    print(sweep)
    reference = scipy_times(out_features, in_features, batch, SPARSITIES, repeats, seed)
    if reference is not None:
        print("scipy.sparse CSR (C kernel) / dense: "
              + " ".join(f"{100 * s:.0f}%:{t / d:.2f}" for s, t, d in zip(SPARSITIES, reference, sweep.dense)))
        scipy_cross = metrics.SpeedSweep(out_features, in_features, batch, sweep.sparsities, sweep.dense,
                                         sweep.masked, reference, sweep.compact).crossover
        print("scipy.sparse beats dense from " + (f"{100 * scipy_cross:.0f} % sparsity on" if scipy_cross is not None
                                                  else "no measured sparsity (never)"))
    g = np.random.default_rng(seed)
    csr = CSRMatrix.from_dense(np.where(g.random((out_features, in_features)) < 0.1, 1.0, 0.0).astype(np.float32))
    x = g.standard_normal((batch, in_features)).astype(np.float32)
    xt = np.ascontiguousarray(x.T)
    loop = best_time(lambda: naive_csr_matmul(csr, xt), min(repeats, 3))
    vectorized = best_time(lambda: csr_matmul(csr.values, csr.col_idx, csr.row_ptr, x.T), min(repeats, 3))
    print(f"a Python loop over rows (one small BLAS product per row) / the vectorized kernel, at 90 %: "
          f"{loop / vectorized:.2f} (> 1: the vectorized kernel is faster)")
    cross = sweep.crossover
    print("==> crossover: CSR beats dense from "
          + (f"{100 * cross:.0f} % sparsity on" if cross is not None else "no measured sparsity (never)"))
    for s, target in TARGETS.items():
        i = SPARSITIES.index(s)
        eff = sweep.compaction_efficiency[i]
        verdict = (f"(target ≥ {target}) {'ok' if eff >= target else 'BELOW TARGET'}" if batch >= MIN_TARGET_BATCH
                   else f"(targets are for GEMMs, batch ≥ {MIN_TARGET_BATCH}; a small matrix-vector product is "
                        "dominated by call overhead)")
        print(f"==> compaction at {100 * s:.0f} % rows removed: speedup {sweep.compaction_speedup[i]:.2f}× vs FLOP "
              f"ratio {sweep.flop_ratio[i]:.2f}× → efficiency {eff:.2f} {verdict}")
    print()
    return sweep


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per kernel and sparsity (min is kept)")
    parser.add_argument("--batch", default="64,1", help="comma-separated batch sizes (default 64,1)")
    parser.add_argument("--layers", default="1024x1024,300x784",
                        help="comma-separated out x in layer shapes (default 1024x1024,300x784: LeNet-300-100's fc1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    print(f"NumPy {np.__version__}; BLAS threads: {threads}; times are minima of {args.repeats} interleaved runs\n")
    for layer in args.layers.split(","):
        out_features, in_features = (int(v) for v in layer.lower().split("x"))
        for batch in (int(b) for b in args.batch.split(",")):
            run(out_features, in_features, batch, args.repeats, args.seed)


if __name__ == "__main__":
    main()
