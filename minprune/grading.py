"""Exercise manifest and the ``python -m minprune grade exNN`` runner.

How the course's exercises work (DESIGN.md §5):

1. **The library holds the solutions.** An exercise is an ordinary library function that the library itself
   calls; its body, after the docstring, is fenced::

       def l1_mask(scores, amount):
           \"\"\"Boolean keep-mask that prunes the `amount` smallest scores.\"\"\"
           # BEGIN SOLUTION
           ...
           # END SOLUTION

2. **The manifest** below (:data:`EXERCISES`) lists, per lesson, which functions are exercises. Part *k* of
   exercise NN is the *k*-th function of its entry.
3. **Stubs.** ``tools/make_exercises.py`` writes ``lessons/exercises/exNN_topic.py`` from the manifest: the same
   signatures and docstrings, each body replaced by ``raise NotImplementedError("Exercise NN.k: ...")``.
4. **Graders** are pytest files ``tests/grading/test_exNN_topic.py``. Each carries ``pytestmark =
   pytest.mark.exNN``, names its tests ``test_<function>...`` (so results map onto parts) and reaches the code
   under test only through the ``impl`` fixture::

       import numpy as np
       import pytest

       pytestmark = pytest.mark.ex03

       def test_l1_mask_prunes_smallest(impl):
           mask = impl.l1_mask(np.array([3.0, 1.0, 2.0]), amount=1)
           np.testing.assert_array_equal(mask, [True, False, True])

   ``pytest --impl=solutions`` (the default) grades the library, ``--impl=exercises`` the files in
   ``lessons/exercises/``, ``--impl=PATH`` a single file (a student's copy or a mutant: functions it does not
   define come from the library) or a folder of ``exNN_*.py`` files.
5. **Mutants** ``tests/grading/mutants/exNN_<mistake>.py`` define plausible wrong versions of exercise functions
   (module docstring: the mistake it models). ``tests/test_exercise_proofs.py`` proves both ways that every
   grader passes on the solutions, fails on the stubs, and rejects every mutant.

Adding an exercise = a manifest entry + fences in the library + a grader file + at least one mutant, then
``python tools/make_exercises.py``. This module imports only the standard library: pytest is needed to *grade*,
not to use minprune.
"""

import ast
import dataclasses
import importlib
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path

# ---------------------------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------------------------

#: Exercise id -> entry. Each entry is a dict with
#:   "file":      the stub's file name in lessons/exercises/, "exNN_topic.py"
#:   "title":     one line shown in the stub and by `grade`
#:   "lesson":    the notebook, relative to lessons/, e.g. "03_what_is_pruning.ipynb"
#:   "functions": ordered list of (module path, function name); part k is the k-th pair
#: Example:
#:   "ex03": {
#:       "file": "ex03_unstructured.py",
#:       "title": "Magnitude pruning: masks from scores",
#:       "lesson": "03_what_is_pruning.ipynb",
#:       "functions": [
#:           ("minprune.prune.unstructured", "l1_mask"),
#:           ("minprune.prune.unstructured", "global_l1_masks"),
#:       ],
#:   },
EXERCISES = {
    "ex01": {
        "file": "ex01_autograd.py",
        "title": "Autograd: broadcasting and matrix-product gradients",
        "lesson": "01_autograd.ipynb",
        "functions": [("minprune.tensor", "unbroadcast"), ("minprune.tensor", "matmul_backward")],
    },
    "ex02": {
        "file": "ex02_training.py",
        "title": "Training: an SGD-with-momentum step and accuracy",
        "lesson": "02_dense_baseline.ipynb",
        "functions": [("minprune.optim", "sgd_step"), ("minprune.train", "accuracy")],
    },
    "ex03": {
        "file": "ex03_unstructured.py",
        "title": "Unstructured pruning: PyTorch's rounding, magnitude and threshold masks, a global threshold",
        "lesson": "03_what_is_pruning.ipynb",
        "functions": [("minprune.prune.base", "nparams_to_prune"),
                      ("minprune.prune.unstructured", "magnitude_mask"),
                      ("minprune.prune.unstructured", "threshold_mask"),
                      ("minprune.prune.unstructured", "global_magnitude_threshold")],
    },
    "ex04": {
        "file": "ex04_structured.py",
        "title": "Structured pruning: an Ln-structured mask and compacting a layer pair",
        "lesson": "04_structured_pruning.ipynb",
        "functions": [("minprune.prune.structured", "ln_structured_mask"),
                      ("minprune.prune.compact", "compact_pair")],
    },
    "ex05": {
        "file": "ex05_criteria.py",
        "title": "Criteria: first-order Taylor, Hutchinson's diagonal, the OBS saliency and update",
        "lesson": "05_criteria.ipynb",
        "functions": [("minprune.prune.criteria.gradient", "taylor_scores"),
                      ("minprune.prune.criteria.hessian", "hutchinson"),
                      ("minprune.prune.criteria.hessian", "obs_update")],
    },
    "ex06": {
        "file": "ex06_schedules.py",
        "title": "Schedules: the polynomial-decay sparsity of gradual pruning",
        "lesson": "06_schedules_and_finetuning.ipynb",
        "functions": [("minprune.prune.schedules", "polynomial_decay_sparsity")],
    },
    "ex07": {
        "file": "ex07_metrics.py",
        "title": "Metrics and sparse storage: global sparsity, the CSR format, a CSR matrix product",
        "lesson": "07_metrics_and_speed.ipynb",
        "functions": [("minprune.metrics", "sparsity_of"),
                      ("minprune.sparse", "csr_from_dense"),
                      ("minprune.sparse", "csr_matmul")],
    },
    "ex08": {
        "file": "ex08_dependencies.py",
        "title": "Dependency-aware pruning: a group's channel positions and the angular block importance",
        "lesson": "08_dependency_aware_pruning.ipynb",
        "functions": [("minprune.prune.graph", "channel_indices"),
                      ("minprune.prune.layers", "angular_distance")],
    },
    "ex09": {
        "file": "ex09_dynamic.py",
        "title": "Dynamic pruning: movement scores and the SET/RigL drop-and-grow step",
        "lesson": "09_dynamic_pruning.ipynb",
        "functions": [("minprune.prune.dynamic", "movement_score_update"),
                      ("minprune.prune.dynamic", "drop_and_grow")],
    },
    "ex10": {
        "file": "ex10_lottery.py",
        "title": "Lottery tickets: one round of iterative magnitude pruning with rewinding",
        "lesson": "10_research.ipynb",
        "functions": [("minprune.prune.lottery", "imp_step")],
    },
    "ex11": {
        "file": "ex11_related.py",
        "title": "Related techniques: affine quantization, the distillation loss, SVD factorisation",
        "lesson": "11_related_techniques.ipynb",
        "functions": [("minprune.related.quantize", "quantize"),
                      ("minprune.related.quantize", "dequantize"),
                      ("minprune.related.distill", "distillation_loss"),
                      ("minprune.related.lowrank", "svd_factors")],
    },
    "ex12": {
        "file": "ex12_capstone.py",
        "title": "Capstone: Wanda's per-row mask, attention-head importance, FedAvg's weighted average",
        "lesson": "12_capstone_llm.ipynb",
        "functions": [("minprune.prune.llm", "wanda_mask"),
                      ("minprune.prune.llm", "gate_sensitivity"),
                      ("minprune.federated", "fedavg")],
    },
}

EXERCISE_ID = re.compile(r"ex\d\d")
BEGIN_FENCE = "# BEGIN SOLUTION"
END_FENCE = "# END SOLUTION"

#: Where things live, relative to the repository root.
EXERCISES_DIR = Path("lessons") / "exercises"
GRADERS_DIR = Path("tests") / "grading"
MUTANTS_DIR = GRADERS_DIR / "mutants"


class ExerciseError(ValueError):
    """A problem with the manifest, an exercise id, or a file to grade (the message says which)."""


def repo_root():
    """The repository root: the folder holding the `minprune` package (``tests/`` exists only in a clone)."""
    return Path(__file__).resolve().parent.parent


def _manifest(manifest):
    return EXERCISES if manifest is None else manifest


def exercise_number(ex_id):
    """``"ex03"`` -> ``"03"``, the prefix of the part labels ``03.1``, ``03.2``..."""
    return ex_id[2:]


def get_exercise(ex_id, manifest=None):
    """The manifest entry of `ex_id`; an unknown id raises ExerciseError listing the valid ones."""
    manifest = _manifest(manifest)
    if ex_id not in manifest:
        valid = ", ".join(sorted(manifest)) or "none (the manifest in minprune/grading.py is empty)"
        raise ExerciseError(f"unknown exercise {ex_id!r}; valid exercise ids: {valid}")
    return manifest[ex_id]


def validate_manifest(manifest=None):
    """Check the manifest's shape (not the library code); return a list of problems, empty if all is well."""
    problems = []
    for ex_id, entry in sorted(_manifest(manifest).items()):
        if not EXERCISE_ID.fullmatch(str(ex_id)):
            problems.append(f"{ex_id!r}: ids look like 'ex01'..'ex99'")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{ex_id}: entry must be a dict, got {type(entry).__name__}")
            continue
        missing = {"file", "title", "lesson", "functions"} - set(entry)
        if missing:
            problems.append(f"{ex_id}: entry lacks key(s) {sorted(missing)}")
            continue
        if not re.fullmatch(rf"{ex_id}_\w+\.py", entry["file"]):
            problems.append(f"{ex_id}: file {entry['file']!r} should look like '{ex_id}_topic.py'")
        functions = entry["functions"]
        if not functions:
            problems.append(f"{ex_id}: 'functions' is empty")
        for pair in functions:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
                problems.append(f"{ex_id}: functions must be (module path, function name) pairs, got {pair!r}")
        names = [pair[1] for pair in functions if isinstance(pair, tuple) and len(pair) == 2]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"{ex_id}: function name(s) {duplicates} appear twice; a stub file needs unique names")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Implementations: what the `impl` fixture hands to a grader
# ---------------------------------------------------------------------------------------------------------------

class Implementation(types.SimpleNamespace):
    """The functions of one exercise as attributes (``impl.l1_mask``), plus where each came from."""

    def __init__(self, ex_id, functions, origins):
        super().__init__(**functions)
        self.__about = (ex_id, origins)  # name-mangled, so no exercise function name can collide with it

    def __repr__(self):
        ex_id, origins = self.__about
        parts = ", ".join(f"{name} from {origin}" for name, origin in origins.items())
        return f"<{ex_id} implementation: {parts}>"


_load_counter = itertools.count()


def load_file(path, ex_id="ex"):
    """Import a .py file by path under a fresh, unique module name (so two copies never share a module)."""
    path = Path(path)
    if not path.is_file():
        raise ExerciseError(f"no such file to grade: {path}")
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_minprune_graded_{ex_id}_{stem}_{next(_load_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as a normal import does, so dataclasses/pickle inside the file work.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_solutions(ex_id, manifest=None):
    """The library's own functions for `ex_id`, as an :class:`Implementation`."""
    entry = get_exercise(ex_id, manifest)
    functions, origins = {}, {}
    for module_name, func_name in entry["functions"]:
        functions[func_name] = getattr(importlib.import_module(module_name), func_name)
        origins[func_name] = f"{module_name} (solution)"
    return Implementation(ex_id, functions, origins)


def load_impl(ex_id, impl="solutions", *, root=None, manifest=None):
    """Resolve the ``--impl`` value for one exercise.

    - ``"solutions"``: the library functions;
    - ``"exercises"``: ``<root>/lessons/exercises/<stub file>``;
    - a folder: ``<folder>/<stub file>`` (e.g. stubs regenerated into a temporary folder);
    - a ``.py`` file: that file.
    A function the file does not define falls back to the solution, so a mutant need only hold the mutated
    function and a student may grade a file holding just the part they worked on.
    """
    entry = get_exercise(ex_id, manifest)
    solutions = load_solutions(ex_id, manifest)
    if impl == "solutions":
        return solutions
    root = repo_root() if root is None else Path(root)
    if impl == "exercises":
        path = root / EXERCISES_DIR / entry["file"]
    else:
        path = Path(impl)
        if not path.is_absolute():
            path = root / path
        if path.is_dir():
            path = path / entry["file"]
    module = load_file(path, ex_id)
    functions, origins = {}, {}
    for _, func_name in entry["functions"]:
        if hasattr(module, func_name):
            functions[func_name] = getattr(module, func_name)
            origins[func_name] = str(path)
        else:
            functions[func_name] = getattr(solutions, func_name)
            origins[func_name] = "the library (not defined in the file)"
    return Implementation(ex_id, functions, origins)


def exercise_of_node(node):
    """The exercise id of a grader's pytest node: its ``exNN`` marker, else ``test_exNN_...`` in the file name."""
    marks = {m.name for m in node.iter_markers() if EXERCISE_ID.fullmatch(m.name)}
    if len(marks) > 1:
        raise ExerciseError(f"{node.nodeid}: carries several exercise markers {sorted(marks)}; use one per file")
    if marks:
        return marks.pop()
    found = re.search(r"test_(ex\d\d)", Path(str(node.path)).name)
    if found:
        return found.group(1)
    raise ExerciseError(f"{node.nodeid}: cannot tell the exercise; add `pytestmark = pytest.mark.exNN`")


def impl_for_request(request, manifest=None):
    """Body of the graders' ``impl`` fixture (tests/grading/conftest.py): the implementation chosen by --impl."""
    ex_id = exercise_of_node(request.node)
    return load_impl(ex_id, request.config.getoption("impl"), root=request.config.rootpath, manifest=manifest)


# ---------------------------------------------------------------------------------------------------------------
# Running graders in a pytest subprocess and reading the outcome
# ---------------------------------------------------------------------------------------------------------------

class ReportPlugin:
    """pytest plugin (enabled by ``--grade-report=PATH`` in the root conftest) writing each test's outcome as JSON.

    Unlike --junitxml it also records each test's exercise markers and its function name without parameters,
    which is what maps a test onto an exercise part.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.items = {}
        self.tests = {}
        self.collection_errors = []

    def pytest_itemcollected(self, item):
        self.items[item.nodeid] = {
            "nodeid": item.nodeid,
            "name": item.name,
            "function": getattr(item, "originalname", item.name),
            "file": item.nodeid.split("::")[0],
            "markers": sorted({m.name for m in item.iter_markers() if EXERCISE_ID.fullmatch(m.name)}),
        }

    def pytest_collectreport(self, report):
        if report.failed:
            self.collection_errors.append({"nodeid": report.nodeid, "message": _tail(str(report.longrepr))})

    def pytest_runtest_logreport(self, report):
        record = self.tests.setdefault(
            report.nodeid, dict(self.items.get(report.nodeid, {"nodeid": report.nodeid}), outcome=None, message="")
        )
        if report.when == "call" or report.outcome != "passed":
            if report.failed:
                # A failure outside the test body (fixture setup, e.g. the file failing to import) is an error.
                outcome = "failed" if report.when == "call" else "error"
            else:
                outcome = report.outcome  # "passed" or "skipped"
            if record["outcome"] in (None, "passed"):
                record["outcome"] = outcome
                record["message"] = _crash_message(report)
                record["when"] = report.when

    def pytest_sessionfinish(self, session, exitstatus):
        data = {
            "exitstatus": int(exitstatus),
            "tests": list(self.tests.values()),
            "collection_errors": self.collection_errors,
        }
        self.path.write_text(json.dumps(data, indent=1))


def _tail(text, limit=4000):
    return text if len(text) <= limit else "..." + text[-limit:]


def _crash_message(report):
    """The one-line reason of a failed or skipped report, e.g. ``NotImplementedError: Exercise 03.1: ...``."""
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skips: (path, line, reason)
        return str(longrepr[2])
    return _tail(str(longrepr).strip().splitlines()[-1] if str(longrepr).strip() else "")


@dataclasses.dataclass
class TestOutcome:
    nodeid: str
    name: str
    function: str
    file: str
    markers: list
    outcome: str  # passed | failed (in the test body) | error (in setup/teardown) | skipped
    message: str = ""
    when: str = "call"

    __test__ = False  # not a pytest test class, despite the name


@dataclasses.dataclass
class PartScore:
    label: str  # "03.1"
    function: str
    passed: int
    total: int
    failures: list  # TestOutcome objects that did not pass


@dataclasses.dataclass
class GradingRun:
    """What one pytest subprocess over some graders reported."""

    returncode: int
    tests: list
    collection_errors: list
    output: str
    command: list

    def for_exercise(self, ex_id):
        return [t for t in self.tests if ex_id in t.markers]

    def part_scores(self, ex_id, manifest=None):
        """Per part of `ex_id`: how many of its tests passed. Tests mapping to no part are left out."""
        functions = [name for _, name in get_exercise(ex_id, manifest)["functions"]]
        scores = [PartScore(f"{exercise_number(ex_id)}.{k}", name, 0, 0, []) for k, name in enumerate(functions, 1)]
        for test in self.for_exercise(ex_id):
            part = part_of_test(test.function, functions)
            if part is None:
                continue
            score = scores[functions.index(part)]
            score.total += 1
            if test.outcome == "passed":
                score.passed += 1
            else:
                score.failures.append(test)
        return scores


def part_of_test(test_function, functions):
    """The exercise function a grader test belongs to: ``test_<function>`` followed by nothing, ``_`` or ``[``.

    The longest match wins, so ``test_l1_mask_global`` goes to ``l1_mask_global`` when both exist.
    """
    matches = [f for f in functions if re.fullmatch(rf"test_{re.escape(f)}(?:[_\[].*)?", test_function)]
    return max(matches, key=len) if matches else None


def grader_files(ex_ids=None, root=None):
    """Grader files under ``<root>/tests/grading``: those of `ex_ids`, or all ``test_*.py`` when None."""
    folder = (repo_root() if root is None else Path(root)) / GRADERS_DIR
    if ex_ids is None:
        return sorted(folder.glob("test_*.py"))
    return sorted(p for ex_id in ex_ids for p in folder.glob(f"test_{ex_id}_*.py"))


def run_graders(ex_ids, impl="solutions", *, root=None, extra_args=(), env=None, timeout=None):
    """Run graders in a fresh ``python -m pytest`` from `root` and return a :class:`GradingRun`.

    `ex_ids` None runs every grader file without a marker filter (to see unmarked tests too); otherwise only
    ``test_exNN_*.py`` of those exercises with ``-m "exNN or ..."``. A subprocess gives every run a clean
    interpreter: the file under test is imported afresh and cannot leak into the caller. The subprocess
    imports the same minprune as the caller (its folder goes first on PYTHONPATH).
    """
    root = repo_root() if root is None else Path(root)
    files = grader_files(ex_ids, root)
    with tempfile.TemporaryDirectory(prefix="minprune-grade-") as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pytest", *map(str, files)]
        if ex_ids is not None:
            command += ["-m", " or ".join(ex_ids)]
        command += [
            f"--impl={impl}", f"--grade-report={report}",
            "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--continue-on-collection-errors",
            *extra_args,
        ]
        run_env = dict(os.environ)
        # Installed plugins (nbval, hypothesis, benchmark...) cost seconds of start-up per run and graders do
        # not need them: a grader uses pytest's own fixtures, and imports hypothesis itself if it wants it.
        run_env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        run_env.update(env or {})
        run_env["PYTHONPATH"] = os.pathsep.join(
            [str(repo_root())] + ([run_env["PYTHONPATH"]] if run_env.get("PYTHONPATH") else [])
        )
        if not files:
            return GradingRun(5, [], [], "no grader files found", command)
        try:
            proc = subprocess.run(command, cwd=root, env=run_env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
            return GradingRun(-1, [], [{"nodeid": "", "message": f"timed out after {timeout} s"}],
                              output or "", command)
        output = proc.stdout + proc.stderr
        if not report.exists():
            return GradingRun(proc.returncode, [], [{"nodeid": "", "message": "pytest wrote no report:\n"
                                                     + _tail(output)}], output, command)
        data = json.loads(report.read_text())
    tests = [TestOutcome(**{k: t.get(k, d) for k, d in _OUTCOME_DEFAULTS.items()}) for t in data["tests"]]
    return GradingRun(proc.returncode, tests, data["collection_errors"], output, command)


_OUTCOME_DEFAULTS = {"nodeid": "", "name": "", "function": "", "file": "", "markers": [], "outcome": "error",
                     "message": "", "when": "call"}


# ---------------------------------------------------------------------------------------------------------------
# `python -m minprune grade exNN`
# ---------------------------------------------------------------------------------------------------------------

def grade(ex_id, file=None, *, root=None, manifest=None, verbose=False, out=None):
    """Grade a student's file for `ex_id`, print a score table, and return the exit code (0 = all passed)."""
    out = sys.stdout if out is None else out

    def say(text=""):
        print(text, file=out)

    try:
        entry = get_exercise(ex_id, manifest)
    except ExerciseError as exc:
        say(f"error: {exc}")
        return 2
    root = repo_root() if root is None else Path(root)
    if not (root / GRADERS_DIR).is_dir():
        say(f"error: the graders ({GRADERS_DIR}/) are not here ({root}). The course is used from a clone of the "
            "minprune repository: clone it, `pip install -r requirements.txt`, and run this command from the "
            "clone's root.")
        return 2
    path = root / EXERCISES_DIR / entry["file"] if file is None else Path(file).resolve()
    if not path.is_file():
        say(f"error: no such file to grade: {path}")
        return 2
    if importlib.util.find_spec("pytest") is None:
        say("error: grading needs pytest; install it with `pip install pytest` (or `pip install -r requirements.txt`)")
        return 2
    try:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    except SyntaxError as exc:
        say(f"error: {path} is not valid Python: {exc.msg} (line {exc.lineno})")
        return 1

    run = run_graders([ex_id], str(path), root=root)
    if verbose:
        say(run.output)
    say(f"Grading {ex_id}: {entry['title']}")
    say(f"file: {_shown_path(path, root)}")
    say()
    if run.collection_errors or not run.for_exercise(ex_id):
        say("The graders could not run. pytest said:")
        for err in run.collection_errors:
            say(f"  {err['nodeid']}: {err['message']}")
        if not run.collection_errors:
            say(_tail(run.output))
        return 1

    scores = run.part_scores(ex_id, manifest)
    # A function the file does not define was graded in the library's version (the fallback that lets a
    # mutant hold one function): that is not the student's work, so it scores nothing.
    missing = [s.function for s in scores if s.function not in top_level_names(path)]
    for s in scores:
        if s.function in missing:
            s.passed = 0
    width = max([len("function")] + [len(s.function) for s in scores])
    say(f"{'part':<6}  {'function':<{width}}  {'tests':>7}")
    for s in scores:
        mark = "missing from your file" if s.function in missing else \
            "ok" if s.total and s.passed == s.total else "--"
        say(f"{s.label:<6}  {s.function:<{width}}  {s.passed:>3}/{s.total:<3}  {mark}")
    passed, total = sum(s.passed for s in scores), sum(s.total for s in scores)
    complete = sum(1 for s in scores if s.total and s.passed == s.total)
    say("-" * (width + 24))
    say(f"{'total':<6}  {'':<{width}}  {passed:>3}/{total:<3}  {100 * passed / max(total, 1):.0f} % of tests, "
        f"{complete}/{len(scores)} parts complete")

    # (errors are shown even for a missing function: they say why the file could not be loaded)
    failures = [t for s in scores for t in s.failures if s.function not in missing or t.outcome == "error"]
    if failures or missing:
        say()
        say("Not passing yet:")
        # One line per distinct reason: a file that fails to import makes every test fail the same way.
        by_message = {}
        for t in failures:
            by_message.setdefault(t.message or t.outcome, []).append(t.name)
        for message, names in by_message.items():
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            say(f"  {shown}")
            for line in [line for line in message.splitlines() if line.strip()][:4]:
                say(f"      {line}")
        for name in missing:
            say(f"  {name}: not defined in your file")
        say()
        say(f"Details: python -m pytest {GRADERS_DIR.as_posix()} -m {ex_id} "
            f"--impl={_shown_path(path, root)} -o addopts=")
    all_passed = total > 0 and passed == total and run.returncode == 0
    if all_passed:
        say()
        say(f"All {total} tests pass. Well done!")
    return 0 if all_passed else 1


def top_level_names(path):
    """Names a Python file binds at top level (functions, classes, assignments, imports); empty if unparsable."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _shown_path(path, root):
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)
