"""Time one training epoch of LeNet-300-100 and LeNet-5: minprune vs a hand-written NumPy floor vs PyTorch.

One epoch: ``--epochs-samples`` (8 000) samples 1×28×28 (MNIST if ``minprune.data.mnist`` exists, else random),
batches of 64 in a fixed order, cross-entropy, SGD(lr=0.01, momentum=0.9), for ``minprune`` (nn, F, optim);
``floor``, the same math in plain NumPy (explicit backward, im2col by ``sliding_window_view`` + one GEMM per layer,
activations kept (C, H, W, N) so every copy and slice runs over whole batch rows), which DESIGN §4 wants minprune
within 1.15× of; and ``torch`` (CPU) if installed, which minprune should beat on LeNet-300-100
(on LeNet-5 about 1.8× is expected: NumPy threads only the GEMMs). First all run two steps from the same weights
and must agree on the losses and every parameter's update, so the comparison is honest. Then each epoch runs
``--repeats`` times from fresh weights, the implementations interleaved (a noisy neighbour slows all alike), and
the minimum counts. Threads: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are set to 2 before NumPy
is imported (BLAS reads them when it loads), unless already set; torch gets OMP_NUM_THREADS threads too.

    python benchmarks/bench_train.py [--epochs-samples 8000] [--repeats 5] [--models lenet300,lenet5]
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import argparse  # noqa: E402
import functools  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

import minprune  # noqa: E402

BATCH, LR, MOMENTUM = 64, 0.01, 0.9
TARGET = 1.15  # DESIGN §4: minprune's epoch ≤ 1.15 × the floor's on both models (and < PyTorch's on the MLP)


# ------------------------------------------------------------------------------------------ the two frameworks
def build(nn, name, **kwargs):
    """The model from ``minprune.nn`` or ``torch.nn``: same layer names, arguments and parameter order."""
    if name == "lenet300":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300, **kwargs), nn.ReLU(), nn.Linear(300, 100, **kwargs),
                             nn.ReLU(), nn.Linear(100, 10, **kwargs))
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, **kwargs), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5, **kwargs), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120, **kwargs), nn.ReLU(), nn.Linear(120, 84, **kwargs), nn.ReLU(),
                         nn.Linear(84, 10, **kwargs))


def build_minprune(name):
    """``minprune.models.LeNet300_100`` / ``LeNet5`` when that module has them, else :func:`build`."""
    rng = np.random.default_rng(0)
    try:
        from minprune import models
        return getattr(models, {"lenet300": "LeNet300_100", "lenet5": "LeNet5"}[name])(rng=rng)
    except (ImportError, AttributeError):
        return build(minprune.nn, name, rng=rng)


def make_framework(lib, name, weights):
    """A training step of ``lib`` ("minprune" or "torch") for model ``name`` that trains the arrays ``weights``
    in place (the model's parameters share their memory), so the caller can read the updates."""
    if lib == "torch":
        import torch as mod
        model, wrap, loss_fn = build(mod.nn, name), mod.from_numpy, mod.nn.functional.cross_entropy
    else:
        mod, model, wrap, loss_fn = minprune, build_minprune(name), np.asarray, minprune.functional.cross_entropy
    for p, w in zip(model.parameters(), weights):
        p.data = wrap(w)                                                    # shares w's memory in both libraries
    opt = mod.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(wrap(x)), wrap(y))
        loss.backward()
        opt.step()
        return loss.item()
    return step


# ------------------------------------------------------------------------------------------ the NumPy floor
def conv_forward(x, w, b, pad):
    """x (C, H, W, N), w (O, C, k, k) → out (O, Ho, Wo, N), and the im2col matrix cols (C·k·k, Ho·Wo·N)."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x
    o, c, k, _ = w.shape
    windows = sliding_window_view(x, (k, k), axis=(1, 2))                  # (C, Ho, Wo, N, k, k), a view
    ho, wo, n = windows.shape[1:4]
    cols = windows.transpose(0, 4, 5, 1, 2, 3).reshape(c * k * k, ho * wo * n)  # the one copy
    out = w.reshape(o, -1) @ cols
    out += b[:, None]
    return out.reshape(o, ho, wo, n), cols


def conv_backward(g, w, cols, x_shape, pad):
    """dW = g·colsᵀ, db = Σg and, unless x_shape is None (first layer), dx: dcols = Wᵀ·g added back (col2im)
    one kernel offset at a time (k² slice additions, no loop over pixels)."""
    o, c, k, _ = w.shape
    g2 = g.reshape(o, -1)
    dw, db = (g2 @ cols.T).reshape(w.shape), g2.sum(axis=1)
    if x_shape is None:
        return None, dw, db
    dcols = (w.reshape(o, -1).T @ g2).reshape(c, k, k, *g.shape[1:])
    (_, h, wd, n), (ho, wo) = x_shape, g.shape[1:3]
    dx = np.zeros((c, h + 2 * pad, wd + 2 * pad, n), dtype=g.dtype)
    for a in range(k):
        for b in range(k):
            dx[:, a:a + ho, b:b + wo] += dcols[:, a, b]
    return dx[:, pad:pad + h, pad:pad + wd], dw, db


CELLS = [(slice(a, None, 2), slice(b, None, 2)) for a in (0, 1) for b in (0, 1)]  # the 4 cells of a 2×2 window


def pool_forward(x):
    """2×2 max pool, stride 2, on (C, H, W, N): the running maximum of four strided slices."""
    return functools.reduce(np.maximum, [x[:, rows, cols] for rows, cols in CELLS])


def pool_backward(g, x, out):
    """The gradient goes to the first cell of each window that holds the maximum (as minprune and PyTorch)."""
    dx = np.zeros_like(x)
    unclaimed = np.ones(out.shape, dtype=bool)
    for rows, cols in CELLS:
        winner = (x[:, rows, cols] == out) & unclaimed
        dx[:, rows, cols] = g * winner
        unclaimed &= ~winner
    return dx


def make_floor(name, weights):
    """A training step in plain NumPy that trains ``weights`` (minprune's = PyTorch's order and shapes) in place."""
    params, momentum_buffers = weights, [np.zeros_like(w) for w in weights]
    n_conv = 2 if name == "lenet5" else 0

    def step(x, y):
        n = len(x)
        if n_conv:                                                          # conv → ReLU → pool, twice
            w1, b1, w2, b2 = params[:4]
            z1, cols1 = conv_forward(x.transpose(1, 2, 3, 0), w1, b1, pad=2)   # (6, 28, 28, N)
            np.maximum(z1, 0, out=z1)
            p1 = pool_forward(z1)                                              # (6, 14, 14, N)
            z2, cols2 = conv_forward(p1, w2, b2, pad=0)                        # (16, 10, 10, N)
            np.maximum(z2, 0, out=z2)
            p2 = pool_forward(z2)                                              # (16, 5, 5, N)
            x = p2.reshape(-1, n).T                                            # (N, 400) in torch's order
        ws, bs = params[2 * n_conv::2], params[2 * n_conv + 1::2]
        acts = [x.reshape(n, -1)]                                              # acts[i]: input of Linear i
        for w, b in zip(ws, bs):
            z = acts[-1] @ w.T
            z += b
            acts.append(np.maximum(z, 0, out=z) if len(acts) < len(ws) else z)  # ReLU but after the last
        logits = acts.pop()
        shifted = logits - logits.max(axis=1, keepdims=True)                # softmax cross-entropy, mean
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(n), y].mean()
        g = np.exp(log_probs)                                               # dloss/dlogits = (softmax − onehot)/N
        g[np.arange(n), y] -= 1
        g /= n
        grads = []
        for i in reversed(range(len(ws))):                                  # back through the Linear layers
            grads[:0] = [g.T @ acts[i], g.sum(axis=0)]
            if i > 0 or n_conv:
                g = g @ ws[i]
            if i > 0:
                g *= acts[i] > 0                                            # ReLU: acts[i] is its output
        if n_conv:
            g = pool_backward(g.T.reshape(p2.shape), z2, p2)
            g *= z2 > 0
            g, dw2, db2 = conv_backward(g, w2, cols2, p1.shape, pad=0)
            g = pool_backward(g, z1, p1)
            g *= z1 > 0
            _, dw1, db1 = conv_backward(g, w1, cols1, None, pad=2)
            grads[:0] = [dw1, db1, dw2, db2]
        for p, grad, buf in zip(params, grads, momentum_buffers):           # SGD with momentum, as PyTorch
            buf *= MOMENTUM
            buf += grad
            p -= LR * buf
        return float(loss)
    return step


# ------------------------------------------------------------------------------------------ driver
def load_data(n):
    try:
        from minprune.data import mnist
        ds = mnist("train", limit=n)
        return np.array(ds.x), np.array(ds.y), f"MNIST train (first {len(ds.x)})"   # writable copies
    except (ImportError, AttributeError):
        rng = np.random.default_rng(0)
        return rng.standard_normal((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n), "random N(0, 1)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs-samples", type=int, default=8000, help="samples in the timed epoch")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per implementation")
    parser.add_argument("--models", default="lenet300,lenet5", help="comma-separated: lenet300, lenet5")
    args = parser.parse_args()
    names = args.models.split(",")
    if not set(names) <= {"lenet300", "lenet5"}:
        parser.error(f"--models: got {args.models!r}, expected a comma-separated list of lenet300, lenet5")

    makers = {"minprune": lambda *a: make_framework("minprune", *a), "floor": make_floor}
    try:
        import torch
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))             # as many threads as NumPy's BLAS
        makers["torch"] = lambda *a: make_framework("torch", *a)
        torch_info = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        torch_info = "torch not installed"
    x, y, source = load_data(args.epochs_samples)
    print(f"one epoch = {len(x)} samples of {source}, batch {BATCH}, SGD(lr={LR}, momentum={MOMENTUM}); "
          f"minimum of {args.repeats} interleaved runs")
    print(f"minprune {minprune.__version__}, numpy {np.__version__}, {torch_info}, BLAS threads: "
          + ", ".join(f"{var}={os.environ[var]}" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")))

    for name in names:
        model = build_minprune(name)
        weights = [p.data.copy() for p in model.parameters()]
        losses, updates, errors = {}, {}, {}                                # the honesty check
        for impl, make in makers.items():
            trained = [w.copy() for w in weights]
            step = make(name, trained)
            losses[impl] = [step(x[i:i + BATCH], y[i:i + BATCH]) for i in (0, BATCH)]
            updates[impl] = [t - w for t, w in zip(trained, weights)]             # lr × momentum buffer
            errors[impl] = max(abs(u - v).max() / abs(v).max() for u, v in zip(updates[impl], updates["minprune"]))
            if errors[impl] > 1e-3 or not np.allclose(losses[impl], losses["minprune"], rtol=1e-4):
                raise RuntimeError(f"{name}: {impl} and minprune disagree after 2 steps from the same weights: losses "
                                   f"{losses[impl]} vs {losses['minprune']}, updates differ by {errors[impl]:.1e}")
        print(f"\n{name} = {type(model).__module__}.{type(model).__name__}; losses of 2 steps from the same weights: "
              + "; ".join(f"{k} {a:.5f} {b:.5f} (update error {errors[k]:.0e})" for k, (a, b) in losses.items()))
        times = {impl: [] for impl in makers}
        for _ in range(args.repeats):
            for impl, make in makers.items():
                step = make(name, [w.copy() for w in weights])              # fresh weights, outside the timer
                start = time.perf_counter()
                for i in range(0, len(x), BATCH):
                    step(x[i:i + BATCH], y[i:i + BATCH])
                times[impl].append(time.perf_counter() - start)
        best = {impl: min(t) for impl, t in times.items()}
        for impl, t in times.items():
            print(f"  {impl:9s} {best[impl]:7.3f} s {len(x) / best[impl]:8.0f} samples/s   "
                  f"(all runs: {' '.join(f'{v:.3f}' for v in t)})")
        ratio = best["minprune"] / best["floor"]
        print(f"  minprune/floor {ratio:.2f}  (target <= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'})")
        if "torch" in best:
            ratio = best["minprune"] / best["torch"]
            target = f"target < 1: {'met' if ratio < 1 else 'MISSED'}" if name == "lenet300" else "~1.8 expected"
            print(f"  minprune/torch {ratio:.2f}  ({target})")


if __name__ == "__main__":
    main()
