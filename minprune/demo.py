"""``python -m minprune demo``: train, prune and measure LeNet-300-100 on MNIST in about a minute.

What it does, in the order of the seed (§4 workflow, §10 gradual schedule, §11 metrics, §13 warning):

1. trains LeNet-300-100 on the bundled MNIST for a few epochs (or loads the shipped baseline, ``--pretrained``);
2. **unstructured**: prunes it gradually to ``--sparsity`` (default 90 %) of its weights — global magnitude
   pruning driven by a ``prune.Pruner`` callback on a schedule (``prune.Steps``: 30 → 60 → 90 %, the seed's
   recipe, or ``prune.PolynomialDecay``), fine-tuning all along;
3. **structured**: from the same baseline, removes ``--structured-sparsity`` of the hidden neurons (smallest L2
   norm per layer, same schedule) and *compacts* the network into a smaller dense one;
4. prints a report for each (accuracy and its drop, sparsity, parameters, bytes in each storage format, MACs,
   latency and speedup) and saves the plots as PNG files (plus report.txt / report.json) in ``--out``.

The reports show the seed's warning in numbers: the unstructured model is 90 % zeros, yet as a dense model it is
neither smaller nor faster; the compacted structured model is both.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

from . import data, metrics, models, optim, plots, prune, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m minprune demo",
        description="Train LeNet-300-100 on MNIST, prune it gradually (unstructured, and structured + compacted), "
                    "print the metrics report and save plots.")
    parser.add_argument("--sparsity", type=float, default=0.9,
                        help="final fraction of the weights removed by unstructured pruning (default 0.9)")
    parser.add_argument("--structured-sparsity", type=float, default=0.7,
                        help="final fraction of the hidden neurons removed by structured pruning (default 0.7)")
    parser.add_argument("--steps", type=int, default=3,
                        help="fine-tuning phases of --finetune-epochs each; pruning happens during the phases "
                             "(default 3: with --schedule steps, 30 → 60 → 90 %%)")
    parser.add_argument("--schedule", choices=("steps", "polynomial"), default="steps",
                        help="steps: the seed's 10/20/30 %%-style staircase (prune.Steps, default); polynomial: "
                             "Zhu & Gupta's cubic schedule (prune.PolynomialDecay)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of initial training (default 2)")
    parser.add_argument("--finetune-epochs", type=int, default=1, help="epochs per phase (default 1)")
    parser.add_argument("--pretrained", action="store_true",
                        help="start from the shipped trained LeNet-300-100 instead of training")
    parser.add_argument("--samples", type=int, default=60000, help="MNIST training samples used (default all 60000)")
    parser.add_argument("--test-samples", type=int, default=10000, help="MNIST test samples (default all 10000)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size for training and latency (default 64)")
    parser.add_argument("--lr", type=float, default=0.05,
                        help="SGD learning rate of the first epoch (momentum 0.9, ÷5 per epoch; fine-tuning uses lr/5; "
                             "default 0.05)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per latency measurement (default 20)")
    parser.add_argument("--out", default="demo_output", help="folder for the plots and reports (default demo_output)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _check(args, parser):
    if not 0 <= args.sparsity < 1:
        parser.error(f"--sparsity must be in [0, 1), got {args.sparsity}")
    if not 0 <= args.structured_sparsity < 1:
        parser.error(f"--structured-sparsity must be in [0, 1), got {args.structured_sparsity}")
    for name in ("steps", "finetune_epochs", "samples", "test_samples", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.epochs < 0:
        parser.error(f"--epochs must be >= 0, got {args.epochs}")
    if args.schedule == "polynomial" and args.steps < 2:
        parser.error("--schedule polynomial needs --steps >= 2 (the last phase only fine-tunes)")


def _fit(model, loader, args, epochs, lr, decay=False):
    """SGD with momentum 0.9; ``decay`` divides the learning rate by 5 after each epoch, so that a short training
    run ends converged (otherwise the fine-tuning at a lower rate would improve the baseline itself, and the
    pruned models would look better than the dense one for the wrong reason)."""
    if epochs == 0:
        return
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = optim.StepLR(opt, step_size=1, gamma=0.2) if decay else None
    train.fit(model, loader, opt, epochs=epochs, progress=not args.no_progress, scheduler=scheduler)


class _EpochLog(train.Callback):
    """Records the weight sparsity and test accuracy after every epoch of a pruning run, and prints them."""

    def __init__(self, label: str, epochs: int):
        self.label, self.epochs = label, epochs
        self.sparsity, self.accuracy = [], []

    def on_epoch_end(self, state):
        self.sparsity.append(metrics.sparsity(state.model).overall)
        self.accuracy.append(state.history["val_accuracy"][-1])
        print(f"  {self.label} epoch {state.epoch + 1}/{self.epochs}: weight sparsity {100 * self.sparsity[-1]:.1f} %, "
              f"accuracy {100 * self.accuracy[-1]:.2f} % (after this epoch's fine-tuning)")


def make_schedule(final: float, args, steps_per_epoch: int):
    """``--schedule steps``: the seed's §10 recipe, ``prune.Steps`` — final·1/n, final·2/n, …, final at the start
    of each of the n fine-tuning phases of ``--finetune-epochs``. ``polynomial``: ``prune.PolynomialDecay``
    (Zhu & Gupta 2017) from 0 to ``final`` over the first n − 1 phases, pruning 10 times per phase; the last
    phase only fine-tunes.

    Both begin at step 1, not 0: the Pruner acts after an optimizer step, and the step that ends an epoch is
    also the one that starts the next phase — beginning one step later puts every pruning just *after* the
    end-of-epoch evaluation, so each epoch's accuracy is measured after its fine-tuning, not after the next cut.
    """
    phase = steps_per_epoch * args.finetune_epochs
    if args.schedule == "polynomial":
        return prune.PolynomialDecay(0.0, final, begin_step=1, end_step=1 + phase * (args.steps - 1),
                                     frequency=max(1, phase // 10))
    return prune.Steps([final * k / args.steps for k in range(1, args.steps + 1)], every=phase, begin_step=1)


def prune_gradually(model, final: float, args, loader, test_loader, structured: bool, label: str):
    """Prune ``model`` in place while fine-tuning it, with a ``prune.Pruner`` callback on the schedule:
    unstructured = global magnitude over all weights; structured = the smallest-L2 neurons of each hidden
    layer (the output layer keeps its 10 classes). Returns the Pruner (its ``history`` holds (step, sparsity)
    of every pruning) and the per-epoch log."""
    schedule = make_schedule(final, args, len(loader))
    if structured:
        pruner = prune.Pruner(model, schedule, parameters=prune.prunable_parameters(model, structured=True).values(),
                              scope="local", structured=True, dim=0)
    else:
        pruner = prune.Pruner(model, schedule, scope="global")
    epochs = args.steps * args.finetune_epochs
    log = _EpochLog(label, epochs)
    optimizer = optim.SGD(model.parameters(), lr=args.lr / 5, momentum=0.9)
    train.fit(model, loader, optimizer, epochs=epochs, val_loader=test_loader, callbacks=[pruner, log],
              progress=not args.no_progress)
    return pruner, log


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(args, parser)
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)

    train_set = data.mnist("train", limit=args.samples)
    test = data.mnist("test", limit=args.test_samples)
    loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, rng=rng)
    print(f"minprune demo: LeNet-300-100 on MNIST ({len(train_set):,} training, {len(test):,} test images), "
          f"output in {out}/")

    # 1. the dense baseline
    if args.pretrained:
        model = models.pretrained("lenet300_100")
        print("1. baseline: the shipped trained LeNet-300-100")
    else:
        print(f"1. baseline: training LeNet-300-100 for {args.epochs} epoch(s)")
        model = models.LeNet300_100(rng=rng)
        _fit(model, loader, args, args.epochs, args.lr, decay=True)
    baseline = copy.deepcopy(model)
    base_acc = metrics.accuracy(baseline, test)
    print(f"   accuracy {100 * base_acc:.2f} %, {metrics.count_parameters(baseline).total:,} parameters")

    # 2. unstructured: gradual global magnitude pruning
    test_loader = data.DataLoader(test, batch_size=1000)
    print(f"2. unstructured: global magnitude pruning to {100 * args.sparsity:.0f} % with the {args.schedule} "
          f"schedule over {args.steps} fine-tuning phase(s)")
    unstructured = copy.deepcopy(baseline)
    pruner_u, log_u = prune_gradually(unstructured, args.sparsity, args, loader, test_loader, structured=False,
                                      label="unstructured")

    # 3. structured: neurons, then compaction
    print(f"3. structured: remove {100 * args.structured_sparsity:.0f} % of the hidden neurons, same schedule, "
          "then compact")
    structured = copy.deepcopy(baseline)
    pruner_s, log_s = prune_gradually(structured, args.structured_sparsity, args, loader, test_loader,
                                      structured=True, label="structured")
    compacted, info = prune.compact(structured)
    widths = ", ".join(f"{name} {a}→{b}" for name, (a, b) in info["widths"].items())
    print(f"   compacted: {widths}; {info['parameters_before']:,} → {info['parameters_after']:,} parameters")

    # 4. the reports
    kwargs = dict(batch_size=args.batch_size, repeats=args.repeats)
    print(f"\n4a. baseline vs unstructured ({100 * args.sparsity:.0f} % zeros, still dense arrays):")
    report_u = metrics.report(baseline, unstructured, test, **kwargs)
    print(report_u)
    print("\n4b. baseline vs structured + compacted:")
    report_s = metrics.report(baseline, compacted, test, **kwargs)
    print(report_s)
    (out / "report.txt").write_text(f"{report_u}\n\n{report_s}\n", encoding="utf-8")
    (out / "report.json").write_text(json.dumps({"unstructured": report_u.to_dict(), "structured": report_s.to_dict()},
                                                indent=1, default=_json_default), encoding="utf-8")

    # 5. the plots
    print("\n5. plots")
    sweep = metrics.layer_speed_sweep(300, 784, [0.5, 0.8, 0.9, 0.95, 0.98, 0.99], batch_size=args.batch_size,
                                      repeats=max(1, min(args.repeats, 5)), rng=np.random.default_rng(args.seed))
    scan_sparsities = (0.5, 0.8, 0.9, 0.95, 0.99)
    scan = prune.sensitivity_scan(baseline, data.DataLoader(data.subset(test, min(len(test), 2000)), batch_size=1000),
                                  scan_sparsities)
    figures = {
        "weights_histogram": plots.weight_histogram(baseline, unstructured),
        "fc1_mask_unstructured": plots.mask_image(unstructured.fc1, "fc1 mask, unstructured (white = pruned)"),
        "fc2_mask_structured": plots.mask_image(structured.fc2, "fc2 mask, structured (white rows = neurons)"),
        "layer_sparsity": plots.layer_sparsity_bars(unstructured, "Sparsity per layer after global pruning"),
        "sparsity_vs_accuracy": plots.sparsity_accuracy_curve(
            {"unstructured (global magnitude)": ([0.0] + log_u.sparsity, [base_acc] + log_u.accuracy),
             "structured (neurons)": ([0.0] + log_s.sparsity, [base_acc] + log_s.accuracy)}, baseline=base_acc),
        "schedule": plots.schedule_curve({"unstructured": [(0, 0.0)] + pruner_u.history,
                                          "structured (fraction of neurons)": [(0, 0.0)] + pruner_s.history}),
        "sensitivity": plots.sensitivity_scan({name: (scan_sparsities, accs) for name, accs in scan.items()},
                                              baseline=base_acc),
        "latency_vs_sparsity": plots.latency_vs_sparsity(sweep),
    }
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.png", dpi=100)
    print(f"   saved {len(figures)} plots to {out}/: " + ", ".join(f"{n}.png" for n in figures))
    print(f"   one fc1-sized layer (784→300, batch {args.batch_size}): CSR beats the dense GEMM from "
          + (f"{100 * sweep.crossover:.0f} % sparsity" if sweep.crossover is not None else "none of the measured "
             "sparsities") + " on this machine")
    elapsed = time.perf_counter() - start
    print(f"\ndone in {elapsed:.0f} s")
    if elapsed > 120:
        print("(slow? on a machine whose cores are busy with other programs, multi-threaded BLAS can stall: try "
              "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python -m minprune demo)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
