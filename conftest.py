"""Repository-wide pytest configuration.

pytest honours ``pytest_addoption`` only in the root (and initial) conftest files, so the grading options live
here; the graders' ``impl`` fixture is in tests/grading/conftest.py. Nothing is imported from minprune unless an
option asks for it, so this file never slows down or breaks an ordinary test run.
"""


def pytest_addoption(parser):
    group = parser.getgroup("minprune grading")
    group.addoption(
        "--impl",
        default="solutions",
        help="what the exercise graders (tests/grading) test: 'solutions' (the library, default), 'exercises' "
        "(lessons/exercises/exNN_*.py), a .py file (a student's copy or a mutant; functions it lacks come from "
        "the library) or a folder of exNN_*.py files",
    )
    group.addoption(
        "--grade-report",
        default=None,
        metavar="PATH",
        help="write each test's outcome and exercise markers to PATH as JSON (used by `python -m minprune grade`)",
    )


def pytest_configure(config):
    report = config.getoption("grade_report")
    if report:
        from minprune.grading import ReportPlugin

        config.pluginmanager.register(ReportPlugin(report), "minprune-grade-report")
