"""Proof both ways that the graders grade (DESIGN.md §5), for every exercise in the manifest.

(a) the committed stubs in lessons/exercises are what tools/make_exercises.py generates;
(b) on stubs regenerated into a temporary folder, *every* grader test fails, and fails because it reached the
    stub (its message is the stub's ``NotImplementedError: Exercise NN.k``), so no grader passes on no work;
(c) every exercise has at least one mutant (a plausible wrong answer in tests/grading/mutants/) and every
    mutant makes at least one of its exercise's grader tests fail;
(d) every grader test is marked with its file's exercise and named ``test_<function>...`` after one of that
    exercise's functions, and every function (part) has at least one test;
(e) every grader passes on the solutions when run through the same runner as (b) and (c). The normal test run
    also runs the graders on the solutions, but (e) is the positive control that makes (b) and (c)
    meaningful: a runner that could not import minprune or the graders would make every test "fail" and (b)
    and (c) pass vacuously. It also supplies the list of grader tests that (b) must see failing.

All runs go through ``minprune.grading.run_graders`` (the engine of ``python -m minprune grade``): one pytest
subprocess for all solutions, one for all stubs, one per mutant (several at a time). With an empty manifest the
parametrized tests have no cases.
"""

import ast
import concurrent.futures
import os
import re
from pathlib import Path

import pytest

from minprune import grading

ROOT = Path(__file__).resolve().parents[1]
make_exercises = grading.load_file(ROOT / "tools" / "make_exercises.py", "make_exercises")

IDS = sorted(grading.EXERCISES)
MUTANTS = [pytest.param(ex_id, path, id=path.stem)
           for ex_id in IDS for path in sorted((ROOT / grading.MUTANTS_DIR).glob(f"{ex_id}_*.py"))]
TIMEOUT = 600  # seconds per pytest subprocess: a mutant stuck in a loop must not hang the suite
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _functions(ex_id):
    return [name for _, name in grading.EXERCISES[ex_id]["functions"]]


def _describe(tests):
    return "\n".join(f"  {t.nodeid}: {t.outcome} {t.message}" for t in tests)


@pytest.fixture(scope="session")
def solution_run():
    """Every grader file, no marker filter (so unmarked tests show up too), on the library."""
    return grading.run_graders(None, "solutions", root=ROOT, timeout=TIMEOUT)


@pytest.fixture(scope="session")
def stub_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stubs")
    make_exercises.write(out, grading.EXERCISES)
    return grading.run_graders(IDS, str(out), root=ROOT, timeout=TIMEOUT) if IDS else None


@pytest.fixture(scope="session")
def mutant_runs():
    """{mutant path: GradingRun}, run a few at a time; `-x` since one failing test is enough to reject."""
    jobs = [param.values for param in MUTANTS]
    workers = max(1, min(4, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {path: pool.submit(grading.run_graders, [ex_id], str(path), root=ROOT, extra_args=["-x"],
                                     env=ONE_THREAD, timeout=TIMEOUT)
                   for ex_id, path in jobs}
        return {path: future.result() for path, future in futures.items()}


# ---------------------------------------------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------------------------------------------

def test_manifest_is_valid():
    assert grading.validate_manifest() == []


def test_stubs_are_up_to_date(capsys):  # (a)
    code = make_exercises.main(["--check"])
    assert code == 0, capsys.readouterr().out + "\nrun `python tools/make_exercises.py` to regenerate"


def test_no_grader_or_mutant_without_an_exercise():
    graders = ROOT / grading.GRADERS_DIR
    for path in sorted(graders.glob("test_*.py")):
        found = re.fullmatch(r"test_(ex\d\d)_\w+\.py", path.name)
        assert found, f"{path}: grader files are named test_exNN_topic.py"
        assert found.group(1) in grading.EXERCISES, f"{path}: {found.group(1)} is not in the manifest"
    for path in sorted((ROOT / grading.MUTANTS_DIR).glob("*.py")):
        found = re.fullmatch(r"(ex\d\d)_\w+\.py", path.name)
        assert found, f"{path}: mutant files are named exNN_<mistake>.py"
        assert found.group(1) in grading.EXERCISES, f"{path}: {found.group(1)} is not in the manifest"


def test_graders_collect_and_are_marked(solution_run):  # (d), marker half
    assert solution_run.collection_errors == [], solution_run.collection_errors
    for test in solution_run.tests:
        ex_id = re.match(r"test_(ex\d\d)_", Path(test.file).name).group(1)
        assert test.markers == [ex_id], f"{test.nodeid}: marked {test.markers}; its file needs " \
                                        f"`pytestmark = pytest.mark.{ex_id}` and no other exercise marker"


# ---------------------------------------------------------------------------------------------------------------
# Per exercise
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ex_id", IDS)
def test_graders_pass_on_solutions(ex_id, solution_run):  # (e)
    tests = solution_run.for_exercise(ex_id)
    assert tests, f"{ex_id} has no grader tests (tests/grading/test_{ex_id}_*.py)"
    failing = [t for t in tests if t.outcome != "passed"]
    assert not failing, "graders fail on the library's solutions:\n" + _describe(failing)


@pytest.mark.parametrize("ex_id", IDS)
def test_grader_names_map_to_parts(ex_id, solution_run):  # (d)
    functions = _functions(ex_id)
    tests = solution_run.for_exercise(ex_id)
    unmapped = [t.nodeid for t in tests if grading.part_of_test(t.function, functions) is None]
    assert not unmapped, f"grader tests must be named test_<function>... with a function of {ex_id} " \
                         f"{functions}: {unmapped}"
    untested = [f for f in functions if not any(grading.part_of_test(t.function, functions) == f for t in tests)]
    assert not untested, f"{ex_id}: part(s) without a grader test: {untested}"


@pytest.mark.parametrize("ex_id", IDS)
def test_every_grader_fails_on_stubs(ex_id, stub_run, solution_run):  # (b)
    number = grading.exercise_number(ex_id)
    expected = sorted(t.nodeid for t in solution_run.for_exercise(ex_id))
    tests = stub_run.for_exercise(ex_id)
    assert sorted(t.nodeid for t in tests) == expected, "the stub run did not run the same grader tests:\n" \
                                                         + stub_run.output[-3000:]
    not_failing = [t for t in tests if t.outcome not in ("failed", "error")
                   or "NotImplementedError" not in t.message or f"Exercise {number}." not in t.message]
    assert not not_failing, ("grader tests must fail on the stubs, because they call them "
                             "(message `NotImplementedError: Exercise NN.k`):\n" + _describe(not_failing))


@pytest.mark.parametrize("ex_id", IDS)
def test_exercise_has_a_mutant(ex_id):  # (c)
    assert any(param.values[0] == ex_id for param in MUTANTS), \
        f"{ex_id} needs at least one mutant: tests/grading/mutants/{ex_id}_<mistake>.py"


@pytest.mark.parametrize("ex_id, path", MUTANTS)
def test_mutant_is_rejected(ex_id, path, mutant_runs):  # (c)
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path}: the module docstring must say which mistake it models"
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert defined & set(_functions(ex_id)), f"{path} defines none of {ex_id}'s functions {_functions(ex_id)}"
    grading.load_file(path, ex_id)  # it must load, or every test would "fail" for the wrong reason

    run = mutant_runs[path]
    assert run.collection_errors == [], run.collection_errors
    tests = run.for_exercise(ex_id)
    assert tests, run.output[-3000:]
    assert any(t.outcome != "passed" for t in tests), f"no grader of {ex_id} rejects the mutant {path.name}"
