"""The exercise machinery itself (stub generator, --impl loading, grading runner, CLI), tested on a tiny fake
package and project built in a temporary folder, so it is verified before any real exercise exists.

The fake project copies the real root conftest.py (the --impl and --grade-report options), has its own
manifest, graders and a mutant, and is graded through the same `minprune.grading` functions as the course.
"""

import inspect
import io
import shutil
import re
import sys
import types
from pathlib import Path

import pytest

from minprune import __main__ as cli
from minprune import grading

ROOT = Path(__file__).resolve().parents[1]
make_exercises = grading.load_file(ROOT / "tools" / "make_exercises.py", "make_exercises")
PKG = "fakepkg_mech"  # a unique name: these modules stay in sys.modules for the whole session

OPS = '''\
"""Fake library module with fenced exercise functions."""
from __future__ import annotations

import functools

import numpy as np

from ..util import SCALE, double
from . import helpers
from .helpers import clip as _clip


def tag(fn):
    """A decorator defined next to the exercise (the stub must import it)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


@tag
def add_scaled(x: np.ndarray,
               y,
               *, scale=SCALE) -> np.ndarray:
    """Return x + scale * y.

    A second paragraph that stays in the stub.
    """
    # a comment before the fence is allowed (and dropped)
    # BEGIN SOLUTION
    result = x + scale * y
    return result
    # END SOLUTION


def square(x):
    """Square "x" elementwise \\\\ with a backslash."""
    # BEGIN SOLUTION
    return x * x
    # END SOLUTION


def not_an_exercise(x):
    """Plain library code, not fenced and not in the manifest."""
    return _clip(double(x))
'''

MORE = '''\
"""A second module whose exercise uses the first one's exercise."""
import numpy as np

from .ops import square


def cube(x):
    """Cube x."""
    # BEGIN SOLUTION
    return square(x) * np.asarray(x)
    # END SOLUTION
'''

BAD = '''\
"""Functions whose fences are wrong, one mistake each."""


def no_fences(x):
    """No fences at all."""
    return x


def begin_only(x):
    """BEGIN without END."""
    # BEGIN SOLUTION
    return x


def end_only(x):
    """END without BEGIN."""
    return x
    # END SOLUTION


def two_begins(x):
    """BEGIN twice."""
    # BEGIN SOLUTION
    # BEGIN SOLUTION
    return x
    # END SOLUTION


def end_first(x):
    """END before BEGIN."""
    # END SOLUTION
    return x
    # BEGIN SOLUTION


def code_before(x):
    """Code between the docstring and BEGIN."""
    x = x + 1
    # BEGIN SOLUTION
    return x
    # END SOLUTION


def code_after(x):
    """Code after END."""
    # BEGIN SOLUTION
    y = x
    # END SOLUTION
    return y


def no_docstring(x):
    # BEGIN SOLUTION
    return x
    # END SOLUTION
'''

MANIFEST_PY = f'''\
EXERCISES = {{
    "ex07": {{
        "file": "ex07_fake.py",
        "title": "Fake ops",
        "lesson": "07_fake.ipynb",
        "functions": [("{PKG}.sub.ops", "add_scaled"), ("{PKG}.sub.ops", "square")],
    }},
    "ex08": {{
        "file": "ex08_more.py",
        "title": "More fake ops",
        "lesson": "08_more.ipynb",
        "functions": [("{PKG}.sub.more", "cube"), ("{PKG}.sub.ops", "square")],
    }},
}}
'''

GRADER_CONFTEST = f'''\
import pytest

from minprune import grading
from {PKG}.manifest import EXERCISES


@pytest.fixture(scope="module")
def impl(request):
    return grading.impl_for_request(request, manifest=EXERCISES)
'''

GRADER = '''\
import numpy as np
import pytest

pytestmark = pytest.mark.ex07


def test_add_scaled_default_scale(impl):
    assert impl.add_scaled(np.array([1.0]), np.array([2.0])).tolist() == [7.0]


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_add_scaled_explicit(impl, scale):
    assert impl.add_scaled(1.0, 2.0, scale=scale) == 1.0 + scale * 2.0


def test_square(impl):
    assert impl.square(3) == 9
'''

MUTANT = '''\
"""Mistake: ignores `scale` (adds y once)."""


def add_scaled(x, y, *, scale=3):
    return x + y
'''

FILES = {
    "pyproject.toml": '[tool.pytest.ini_options]\nmarkers = ["ex07", "ex08", "ex09"]\n',
    f"{PKG}/__init__.py": "",
    f"{PKG}/util.py": "SCALE = 3\n\n\ndef double(x):\n    return 2 * x\n",
    f"{PKG}/sub/__init__.py": "",
    f"{PKG}/sub/helpers.py": "def clip(x):\n    return x\n",
    f"{PKG}/sub/ops.py": OPS,
    f"{PKG}/sub/more.py": MORE,
    f"{PKG}/bad.py": BAD,
    f"{PKG}/manifest.py": MANIFEST_PY,
    "tests/grading/conftest.py": GRADER_CONFTEST,
    "tests/grading/test_ex07_fake.py": GRADER,
    "tests/grading/test_ex09_broken.py": "import pytest\nimport no_such_module_anywhere\n"
                                         "pytestmark = pytest.mark.ex09\n\ndef test_x(impl):\n    pass\n",
    "tests/grading/mutants/ex07_no_scale.py": MUTANT,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The fake project folder, importable (its package on sys.path) for the in-process tests."""
    root = tmp_path_factory.mktemp("fakeproject")
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    shutil.copy(ROOT / "conftest.py", root / "conftest.py")  # the real --impl / --grade-report options
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


@pytest.fixture(scope="module")
def manifest(project):
    return grading.load_file(project / PKG / "manifest.py", "manifest").EXERCISES


@pytest.fixture(scope="module")
def stubs(project, manifest):
    make_exercises.write(project / "lessons" / "exercises", manifest)
    return project / "lessons" / "exercises"


# ---------------------------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------------------------

def test_stub_keeps_signatures_docstrings_and_decorators_verbatim(project, manifest):
    text = make_exercises.render_stub("ex07", manifest["ex07"])
    assert text.startswith('"""Exercise 07: Fake ops\n')
    assert "Lesson: lessons/07_fake.ipynb" in text
    assert "python -m minprune grade ex07" in text
    signature = ("@tag\ndef add_scaled(x: np.ndarray,\n               y,\n"
                 "               *, scale=SCALE) -> np.ndarray:\n"
                 '    """Return x + scale * y.\n\n    A second paragraph that stays in the stub.\n    """\n'
                 '    raise NotImplementedError("Exercise 07.1: Return x + scale * y.")\n')
    assert signature in text
    assert "BEGIN SOLUTION" not in text and "result = x + scale * y" not in text
    assert "a comment before the fence" not in text
    assert "not_an_exercise" not in text


def test_stub_imports_are_absolute_and_future_first(project, manifest):
    text = make_exercises.render_stub("ex07", manifest["ex07"])
    body = text.split('\n"""\n', 1)[1]  # after the module docstring
    first_statement = [line for line in body.splitlines() if line.strip()][0]
    assert first_statement == "from __future__ import annotations"
    for line in ["import functools", "import numpy as np", f"from {PKG}.util import SCALE, double",
                 f"from {PKG}.sub import helpers", f"from {PKG}.sub.helpers import clip as _clip",
                 f"from {PKG}.sub.ops import tag"]:
        assert line + "\n" in body, line
    assert "from ." not in text


def test_stub_does_not_import_an_exercise_solution(project, manifest):
    text = make_exercises.render_stub("ex08", manifest["ex08"])
    assert f"from {PKG}.sub.ops import square" not in text
    assert "def square(x):" in text and "def cube(x):" in text
    assert 'raise NotImplementedError("Exercise 08.1: Cube x.")' in text


def test_stub_imports_and_behaves_like_a_stub(project, stubs, manifest):
    import importlib

    ops = importlib.import_module(f"{PKG}.sub.ops")
    stub = grading.load_file(stubs / "ex07_fake.py", "ex07")
    for name in ("add_scaled", "square"):
        assert inspect.signature(getattr(stub, name)) == inspect.signature(getattr(ops, name))
        assert getattr(stub, name).__doc__ == getattr(ops, name).__doc__
    with pytest.raises(NotImplementedError, match=r"^Exercise 07\.1: Return x \+ scale \* y\.$"):
        stub.add_scaled(1.0, 2.0)
    with pytest.raises(NotImplementedError) as info:
        stub.square(2)
    assert str(info.value) == "Exercise 07.2: " + ops.square.__doc__  # quotes and backslash survive
    # the library's own version is untouched and real code
    assert ops.add_scaled(1.0, 2.0) == 7.0


@pytest.mark.parametrize("func, words", [
    ("no_fences", "not fenced"),
    ("begin_only", "unbalanced"),
    ("end_only", "unbalanced"),
    ("two_begins", "unbalanced"),
    ("end_first", "unbalanced"),
    ("code_before", "code outside the solution fences"),
    ("code_after", "code outside the solution fences"),
    ("no_docstring", "no docstring"),
])
def test_bad_fences_are_clear_errors(project, func, words):
    entry = {"file": "ex09_bad.py", "title": "t", "lesson": "l", "functions": [(f"{PKG}.bad", func)]}
    with pytest.raises(make_exercises.StubError, match=words) as info:
        make_exercises.render_stub("ex09", entry)
    assert f"{PKG}.bad.{func}" in str(info.value)


@pytest.mark.parametrize("pair, words", [
    ((f"{PKG}.no_such_module", "f"), "cannot be found"),
    ((f"{PKG}.sub.ops", "no_such_function"), "not a top-level function"),
])
def test_manifest_naming_nothing_is_a_clear_error(project, pair, words):
    entry = {"file": "ex09_bad.py", "title": "t", "lesson": "l", "functions": [pair]}
    with pytest.raises(make_exercises.StubError, match=words):
        make_exercises.render_stub("ex09", entry)


def test_error_exit_code_and_folder_untouched(project, tmp_path, capsys):
    entry = {"file": "ex09_bad.py", "title": "t", "lesson": "l", "functions": [(f"{PKG}.bad", "no_fences")]}
    assert make_exercises.main(["--out", str(tmp_path / "out")], manifest={"ex09": entry}) == 2
    assert "not fenced" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_output_is_deterministic(project, manifest):
    first = make_exercises.render_all(manifest)
    reordered = dict(reversed(list(manifest.items())))
    assert make_exercises.render_all(reordered) == first
    assert list(first) == ["README.md", "ex07_fake.py", "ex08_more.py"]


def test_check_reports_stale_missing_and_extra(project, manifest, tmp_path, capsys):
    out = tmp_path / "ex"
    assert make_exercises.main(["--out", str(out)], manifest=manifest) == 0
    assert make_exercises.main(["--check", "--out", str(out)], manifest=manifest) == 0
    capsys.readouterr()

    (out / "ex07_fake.py").write_text((out / "ex07_fake.py").read_text() + "# student edit\n")
    (out / "README.md").unlink()
    (out / "ex05_old.py").write_text("")
    (out / "__pycache__").mkdir()  # folders and hidden files are never reported
    (out / ".ipynb_checkpoints").write_text("")
    assert make_exercises.main(["--check", "--out", str(out)], manifest=manifest) == 1
    report = capsys.readouterr().out
    assert f"stale: {out / 'ex07_fake.py'}" in report
    assert f"missing: {out / 'README.md'}" in report
    assert f"extra: {out / 'ex05_old.py'}" in report
    assert "ex08_more.py" not in report and "pycache" not in report

    # regenerating repairs everything and removes the stub of an exercise no longer in the manifest
    assert make_exercises.main(["--out", str(out)], manifest=manifest) == 0
    assert not (out / "ex05_old.py").exists()
    assert make_exercises.check(out, manifest) == []


def test_empty_manifest_gives_only_the_readme(tmp_path, capsys):
    assert list(make_exercises.render_all({})) == ["README.md"]
    assert "No exercises yet." in make_exercises.render_readme({})
    assert make_exercises.main(["--check", "--out", str(tmp_path)], manifest={}) == 1  # README missing
    assert make_exercises.main(["--out", str(tmp_path)], manifest={}) == 0
    assert make_exercises.main(["--check", "--out", str(tmp_path)], manifest={}) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_readme_lists_exercises_and_how_to_grade(manifest):
    readme = make_exercises.render_readme(manifest)
    assert "`ex07_fake.py` | Fake ops | `lessons/07_fake.ipynb` | `python -m minprune grade ex07`" in readme
    assert "never" in readme.lower() and "make_exercises.py" in readme


# ---------------------------------------------------------------------------------------------------------------
# Manifest helpers and --impl loading (in-process)
# ---------------------------------------------------------------------------------------------------------------

def test_validate_manifest(manifest):
    assert grading.validate_manifest(manifest) == []
    assert grading.validate_manifest({}) == []
    bad = {
        "ex1": {},
        "ex02": {"file": "ex02_x.py"},
        "ex03": {"file": "wrong.py", "title": "t", "lesson": "l", "functions": [("m", "f"), ("m2", "f"), "g"]},
    }
    problems = "\n".join(grading.validate_manifest(bad))
    assert "'ex1'" in problems and "ex02: entry lacks key(s)" in problems
    assert "ex03: file 'wrong.py'" in problems and "appear twice" in problems and "'g'" in problems


def test_unknown_exercise_lists_valid_ids(manifest):
    with pytest.raises(grading.ExerciseError, match=r"unknown exercise 'ex99'; valid exercise ids: ex07, ex08"):
        grading.get_exercise("ex99", manifest)
    with pytest.raises(grading.ExerciseError, match="manifest in minprune/grading.py is empty"):
        grading.get_exercise("ex01", {})


@pytest.mark.parametrize("name, functions, expected", [
    ("test_square", ["square", "cube"], "square"),
    ("test_square_negative", ["square"], "square"),
    ("test_square[3]", ["square"], "square"),
    ("test_squares", ["square"], None),
    ("test_l1_mask_global_ties", ["l1_mask", "l1_mask_global"], "l1_mask_global"),
    ("test_l1_mask_ties", ["l1_mask", "l1_mask_global"], "l1_mask"),
    ("helper_square", ["square"], None),
])
def test_part_of_test(name, functions, expected):
    assert grading.part_of_test(name, functions) == expected


def test_load_impl_falls_back_to_solutions(project, manifest, tmp_path):
    import importlib

    ops = importlib.import_module(f"{PKG}.sub.ops")
    partial = tmp_path / "partial.py"
    partial.write_text("def square(x):\n    return -1\n")
    impl = grading.load_impl("ex07", str(partial), root=project, manifest=manifest)
    assert impl.square(5) == -1
    assert impl.add_scaled is ops.add_scaled
    assert "square from " + str(partial) in repr(impl) and "add_scaled from the library" in repr(impl)
    # two loads of the same path are independent modules
    again = grading.load_impl("ex07", str(partial), root=project, manifest=manifest)
    assert again.square is not impl.square
    assert grading.load_impl("ex07", "solutions", manifest=manifest).square is ops.square


def test_load_impl_exercises_and_folder(project, stubs, manifest):
    for impl_value in ("exercises", str(stubs)):
        impl = grading.load_impl("ex07", impl_value, root=project, manifest=manifest)
        with pytest.raises(NotImplementedError, match="Exercise 07.2"):
            impl.square(2)
    with pytest.raises(grading.ExerciseError, match="no such file"):
        grading.load_impl("ex07", str(project / "nowhere.py"), root=project, manifest=manifest)


def test_exercise_of_node():
    def node(marks, path="tests/grading/test_x.py"):
        return types.SimpleNamespace(nodeid=path, path=Path(path),
                                     iter_markers=lambda: [types.SimpleNamespace(name=m) for m in marks])
    assert grading.exercise_of_node(node(["ex04", "slow"])) == "ex04"
    assert grading.exercise_of_node(node([], "tests/grading/test_ex05_structured.py")) == "ex05"
    with pytest.raises(grading.ExerciseError, match="several exercise markers"):
        grading.exercise_of_node(node(["ex04", "ex05"]))
    with pytest.raises(grading.ExerciseError, match="pytestmark"):
        grading.exercise_of_node(node([]))


# ---------------------------------------------------------------------------------------------------------------
# Runner (pytest subprocess in the fake project) and `grade`
# ---------------------------------------------------------------------------------------------------------------

def _outcomes(run):
    return {t.name: t.outcome for t in run.tests}


def test_runner_on_solutions_stubs_and_mutant(project, stubs, manifest):
    solutions = grading.run_graders(["ex07"], "solutions", root=project)
    assert solutions.returncode == 0, solutions.output
    assert _outcomes(solutions) == {"test_add_scaled_default_scale": "passed",
                                    "test_add_scaled_explicit[1.0]": "passed",
                                    "test_add_scaled_explicit[2.0]": "passed", "test_square": "passed"}
    assert all(t.markers == ["ex07"] for t in solutions.tests)
    scores = [(s.label, s.function, s.passed, s.total) for s in solutions.part_scores("ex07", manifest)]
    assert scores == [("07.1", "add_scaled", 3, 3), ("07.2", "square", 1, 1)]

    for impl in ("exercises", str(stubs)):
        run = grading.run_graders(["ex07"], impl, root=project)
        assert set(_outcomes(run).values()) == {"failed"}, run.output
        assert all(t.message.startswith("NotImplementedError: Exercise 07.") for t in run.tests)

    mutant = grading.run_graders(["ex07"], str(project / "tests/grading/mutants/ex07_no_scale.py"), root=project)
    assert _outcomes(mutant) == {"test_add_scaled_default_scale": "failed", "test_add_scaled_explicit[1.0]": "passed",
                                 "test_add_scaled_explicit[2.0]": "failed", "test_square": "passed"}


def test_runner_reports_setup_errors_and_collection_errors(project, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom at import')\n")
    run = grading.run_graders(["ex07"], str(broken), root=project)
    assert {t.outcome for t in run.tests} == {"error"}
    assert all("boom at import" in t.message and t.when == "setup" for t in run.tests)

    # a grader file that cannot be imported is reported, and does not stop other exercises' graders
    run = grading.run_graders(["ex09"], "solutions", root=project)
    assert run.tests == [] and "no_such_module_anywhere" in run.collection_errors[0]["message"]
    assert grading.run_graders(["ex07"], "solutions", root=project).collection_errors == []
    everything = grading.run_graders(None, "solutions", root=project)
    assert len(everything.tests) == 4 and len(everything.collection_errors) == 1


def _grade(project, manifest, file=None, ex_id="ex07"):
    out = io.StringIO()
    code = grading.grade(ex_id, file, root=project, manifest=manifest, out=out)
    return code, out.getvalue()


def test_grade_prints_a_table_and_exit_code(project, stubs, manifest, tmp_path):
    code, text = _grade(project, manifest)  # default: the stub in lessons/exercises
    assert code == 1
    assert "Grading ex07: Fake ops" in text and "file: lessons/exercises/ex07_fake.py" in text
    assert "07.1    add_scaled    0/3" in text and "07.2    square        0/1" in text
    assert "0/4" in text and "0/2 parts complete" in text
    assert "NotImplementedError: Exercise 07.1" in text

    half = tmp_path / "half.py"
    half.write_text(re.sub(r"raise NotImplementedError\(\"Exercise 07\.2.*", "return x * x",
                           (stubs / "ex07_fake.py").read_text()))
    code, text = _grade(project, manifest, half)
    assert code == 1 and "07.2    square        1/1    ok" in text and "1/2 parts complete" in text

    # a part missing from the file is graded on the library (fallback) but scores nothing
    only_square = tmp_path / "only_square.py"
    only_square.write_text("def square(x):\n    return x * x\n")
    code, text = _grade(project, manifest, only_square)
    assert code == 1 and "07.1    add_scaled    0/3    missing from your file" in text
    assert "add_scaled: not defined in your file" in text and "1/4" in text

    done = tmp_path / "done.py"
    done.write_text("def add_scaled(x, y, *, scale=3):\n    return x + scale * y\n\n\n"
                    "def square(x):\n    return x * x\n")
    code, text = _grade(project, manifest, done)
    assert code == 0 and "4/4" in text and "2/2 parts complete" in text and "All 4 tests pass" in text


def test_grade_clear_errors(project, manifest, tmp_path):
    code, text = _grade(project, manifest, ex_id="ex99")
    assert code == 2 and "valid exercise ids: ex07, ex08" in text

    code, text = _grade(project, manifest, tmp_path / "missing.py")
    assert code == 2 and "no such file" in text

    syntax = tmp_path / "syntax.py"
    syntax.write_text("def square(x)\n    return x\n")
    code, text = _grade(project, manifest, syntax)
    assert code == 1 and "not valid Python" in text and "line 1" in text

    crashing = tmp_path / "crashing.py"
    crashing.write_text("raise RuntimeError('boom at import')\n")
    code, text = _grade(project, manifest, crashing)
    assert code == 1 and text.count("boom at import") == 1  # one line per distinct reason

    code, text = _grade(project, manifest, ex_id="ex08")  # no grader file for ex08
    assert code == 1 and "could not run" in text

    code, text = _grade(tmp_path, manifest)  # not a clone: no tests/grading
    assert code == 2 and "clone" in text


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------

def test_cli_grade_unknown_exercise(capsys):
    assert cli.main(["grade", "ex99"]) == 2
    assert "unknown exercise 'ex99'" in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["demo"], ["grade"], ["info"]])
def test_cli_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(command + ["--help"])
    assert info.value.code == 0
    assert "usage: python -m minprune" in capsys.readouterr().out


def test_cli_info(capsys):
    assert cli.main(["info"]) == 0
    text = capsys.readouterr().out
    for field in ("Python:", "NumPy:", "matplotlib:", "CPUs:", "bundled data"):
        assert field in text


def test_cli_info_without_verify_bundled(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "minprune.data", types.ModuleType("minprune.data"))
    assert cli.main(["info"]) == 0
    assert "bundled data: not available" in capsys.readouterr().out


def test_cli_demo_missing_and_present(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "minprune.demo", None)
    assert cli.main(["demo"]) == 1
    assert "demo is not available" in capsys.readouterr().out

    calls = []
    fake = types.ModuleType("minprune.demo")
    fake.main = lambda argv: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "minprune.demo", fake)
    assert cli.main(["demo", "--epochs", "1"]) == 0
    assert cli.main(["demo", "--", "--help"]) == 0
    assert calls == [["--epochs", "1"], ["--help"]]


def test_cli_rejects_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["info", "--bogus"])
    assert info.value.code == 2


def test_generator_cli_on_the_real_repository(tmp_path):
    """The tool runs as a script from a clone (finds minprune by itself) and writes into --out."""
    import subprocess

    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_exercises.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "README.md").is_file()
