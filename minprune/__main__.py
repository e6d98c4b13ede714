"""Command line: ``python -m minprune demo | grade exNN [--file PATH] | info``.

Each command has its own ``--help``. The grading logic lives in :mod:`minprune.grading`; the demo in
``minprune.demo``.
"""

import argparse
import importlib
import os
import platform
import sys


def _version(module_name):
    try:
        module = __import__(module_name)
    except ImportError:
        return "not installed"
    return getattr(module, "__version__", "unknown version")


def _blas_lines():
    """BLAS library and threads, from what NumPy (and threadpoolctl, if present) report; no extra dependencies."""
    lines = []
    try:
        import numpy as np

        config = np.show_config(mode="dicts")  # NumPy >= 1.25
        blas = config.get("Build Dependencies", {}).get("blas", {})
        if blas:
            lines.append(f"BLAS:        {blas.get('name', '?')} {blas.get('version', '')}".rstrip())
    except (TypeError, AttributeError, ImportError):
        lines.append("BLAS:        not reported by this NumPy version")
    try:
        import threadpoolctl

        for pool in threadpoolctl.threadpool_info():
            if pool.get("user_api") == "blas":
                lines.append(f"BLAS threads: {pool.get('num_threads')} ({pool.get('internal_api')})")
    except ImportError:
        pass
    limits = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
              if k in os.environ]
    lines.append("thread env:  " + (", ".join(limits) if limits else "none set (BLAS picks its default)"))
    return lines


def _data_lines():
    try:
        from minprune.data import verify_bundled
    except (ImportError, AttributeError):
        return ["bundled data: not available (minprune.data.verify_bundled is missing)"]
    try:
        status = verify_bundled()
    except Exception as exc:  # report, don't crash: `info` is what people run when something is broken
        return [f"bundled data: check failed: {type(exc).__name__}: {exc}"]
    if isinstance(status, dict):
        status = [f"{name}: {value}" for name, value in status.items()]
    if not isinstance(status, (list, tuple)):
        return [f"bundled data: {status}"]
    lines = ["bundled data:"]
    for item in status:
        if hasattr(item, "name") and hasattr(item, "ok"):  # minprune.data.FileStatus
            verdict = "sha256 ok" if item.ok else (
                "MISSING" if getattr(item, "actual", "") is None
                else f"CHECKSUM MISMATCH (expected {getattr(item, 'expected', '?')}, got {item.actual})")
            lines.append(f"  {item.name}: {verdict}")
        else:
            lines.append(f"  {item}")
    return lines


def info(args):
    import minprune

    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    lines = [
        f"minprune:    {getattr(minprune, '__version__', 'development')} ({os.path.dirname(minprune.__file__)})",
        f"Python:      {platform.python_version()} ({platform.python_implementation()}, {platform.platform()})",
        f"NumPy:       {_version('numpy')}",
        f"matplotlib:  {_version('matplotlib')}",
        f"tqdm:        {_version('tqdm')}",
        *_blas_lines(),
        f"CPUs:        {cpus} ({usable} usable by this process)",
        *_data_lines(),
    ]
    print("\n".join(lines))
    return 0


def grade(args):
    from minprune import grading

    return grading.grade(args.exercise, args.file, verbose=args.verbose)


def demo(args, extra):
    try:
        demo_module = importlib.import_module("minprune.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "minprune.demo":
            raise
        print("The demo is not available in this version of minprune (minprune/demo.py is missing).")
        return 1
    if extra[:1] == ["--"]:
        extra = extra[1:]
    result = demo_module.main(extra)
    return result if isinstance(result, int) else 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m minprune", description="minprune command line.")
    commands = parser.add_subparsers(dest="command", metavar="{demo,grade,info}")
    commands.required = True

    commands.add_parser(
        "demo", help="train, prune and compare a small model",
        description="Run minprune's demo (minprune.demo.main). Arguments after `demo` are passed on to it; "
                    "`python -m minprune demo -- --help` shows the demo's own options.")

    grade_parser = commands.add_parser(
        "grade", help="grade your answers to an exercise",
        description="Run the graders of exercise exNN against your file (default: lessons/exercises/exNN_*.py) "
                    "and print the score of each part. Run from a clone of the repository. Exit code 0 only "
                    "if every test passes.")
    grade_parser.add_argument("exercise", metavar="exNN", help="exercise id, e.g. ex03")
    grade_parser.add_argument("--file", metavar="PATH", help="grade this file instead of lessons/exercises/exNN_*.py")
    grade_parser.add_argument("-v", "--verbose", action="store_true", help="also print pytest's full output")

    commands.add_parser(
        "info", help="versions, BLAS, CPUs and bundled-data checksums",
        description="Print Python, NumPy, matplotlib and tqdm versions, the BLAS NumPy uses, the number of CPUs "
                    "and the checksum status of the bundled datasets (useful in bug reports).")
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "demo":
        return demo(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return {"grade": grade, "info": info}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
