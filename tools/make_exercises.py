"""Generate the student stubs lessons/exercises/exNN_topic.py from the library's fenced reference solutions.

    python tools/make_exercises.py            # (re)write lessons/exercises/
    python tools/make_exercises.py --check    # exit 1 if lessons/exercises/ is out of date (CI)
    python tools/make_exercises.py --out DIR  # write (or --check) another folder

For every entry of ``minprune.grading.EXERCISES`` the stub holds: a module docstring (title, lesson, how to
grade), the top-level imports of the source modules (relative imports made absolute), and each exercise
function with its decorators, signature and docstring copied verbatim and its fenced body replaced by
``raise NotImplementedError("Exercise NN.k: <first docstring line>")``. Output depends only on the manifest and
the library source, so it is byte-for-byte reproducible.
"""

import argparse
import ast
import builtins
import importlib
import importlib.util
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"^\s*# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
GENERATOR = "tools/make_exercises.py"


class StubError(Exception):
    """The manifest or a fenced function cannot be turned into a stub (the message says where and why)."""


# ---------------------------------------------------------------------------------------------------------------
# Reading the library source
# ---------------------------------------------------------------------------------------------------------------

class SourceModule:
    """One library module: its path, text, lines and AST."""

    def __init__(self, name):
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError as exc:
            raise StubError(f"module {name!r} named in the manifest cannot be found: {exc}") from exc
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise StubError(f"module {name!r} named in the manifest cannot be found (or is not a .py file)")
        self.name = name
        self.path = Path(spec.origin)
        self.is_package = self.path.name == "__init__.py"
        self.text = self.path.read_text(encoding="utf-8")
        self.lines = self.text.splitlines()
        self.tree = ast.parse(self.text, filename=str(self.path))

    def where(self, lineno):
        return f"{self.path}:{lineno}"

    def function(self, func_name):
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func_name:
                return node
        raise StubError(f"{self.name}.{func_name} named in the manifest is not a top-level function of {self.path}")

    def imports(self):
        """Top-level import statements, relative ones rewritten as absolute (``from ..x import y`` ->
        ``from minprune.x import y``), as fresh AST nodes in source order."""
        package = self.name if self.is_package else self.name.rpartition(".")[0]
        result = []
        for node in self.tree.body:
            if isinstance(node, ast.Import):
                result.append(ast.Import(names=list(node.names)))
            elif isinstance(node, ast.ImportFrom):
                module = node.module
                if node.level:
                    try:
                        module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                    except ImportError as exc:
                        raise StubError(f"{self.where(node.lineno)}: cannot resolve relative import: {exc}") from exc
                result.append(ast.ImportFrom(module=module, names=list(node.names), level=0))
        return result


def check_fences(module, node):
    """Raise StubError, saying what is wrong, unless `node` is a well-fenced exercise function.

    Rules: the function has a docstring (its first line is the stub's hint); exactly one ``# BEGIN SOLUTION``
    and one ``# END SOLUTION`` line inside the function, in that order, after the docstring; and nothing but
    blank lines and comments outside them, because the whole body becomes the ``raise``.
    """
    qualname = f"{module.name}.{node.name}"
    if ast.get_docstring(node) is None:
        raise StubError(f"{qualname} ({module.where(node.lineno)}) has no docstring; an exercise function needs one "
                        "(its first line is the stub's hint)")
    doc_end = node.body[0].end_lineno
    begins = [i for i in range(node.lineno, node.end_lineno + 1) if BEGIN.match(module.lines[i - 1])]
    ends = [i for i in range(node.lineno, node.end_lineno + 1) if END.match(module.lines[i - 1])]
    # A trailing END fence is a comment, so it lies past node.end_lineno: look up to the next code line.
    after = node.end_lineno + 1
    while after <= len(module.lines) and (not module.lines[after - 1].strip()
                                          or module.lines[after - 1].lstrip().startswith("#")):
        if END.match(module.lines[after - 1]):
            ends.append(after)
            break
        if BEGIN.match(module.lines[after - 1]):
            break
        after += 1
    if not begins and not ends:
        raise StubError(f"{qualname} ({module.where(node.lineno)}) is in the manifest but its body is not fenced "
                        "by '# BEGIN SOLUTION' / '# END SOLUTION'")
    if len(begins) != 1 or len(ends) != 1 or not begins[0] < ends[0]:
        raise StubError(f"{qualname} ({module.where(node.lineno)}): unbalanced solution fences: "
                        f"'# BEGIN SOLUTION' at line(s) {begins or 'none'}, '# END SOLUTION' at line(s) "
                        f"{ends or 'none'}; expected exactly one of each, BEGIN first")
    begin, end = begins[0], ends[0]
    if begin <= doc_end:
        raise StubError(f"{qualname}: '# BEGIN SOLUTION' ({module.where(begin)}) must come after the docstring")
    for statement in node.body[1:]:
        if not (begin < statement.lineno and statement.end_lineno < end):
            raise StubError(f"{qualname}: code outside the solution fences at {module.where(statement.lineno)}; "
                            "the whole body after the docstring must lie between them")


# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------

def _hint(node):
    return ast.get_docstring(node).strip().splitlines()[0].strip()


def _string_literal(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bound_names(import_node):
    return [(alias.asname or alias.name).split(".")[0] for alias in import_node.names]


def _format_import(node, limit=110):
    line = ast.unparse(node)
    if len(line) <= limit or not isinstance(node, ast.ImportFrom):
        return line
    names = ",\n".join("    " + ast.unparse(alias) for alias in node.names)
    return f"from {node.module} import (\n{names},\n)"


def _signature_names(node, annotations):
    """Names evaluated when the ``def`` runs: decorators, defaults and, unless postponed by ``from __future__
    import annotations``, annotations. The stub must bind them to import."""
    roots = list(node.decorator_list) + list(node.args.defaults) + [d for d in node.args.kw_defaults if d]
    if annotations:
        arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs + [node.args.vararg,
                                                                                     node.args.kwarg]
        roots += [a.annotation for a in arguments if a is not None and a.annotation is not None]
        if node.returns is not None:
            roots.append(node.returns)
    names = []
    for root in roots:
        for sub in ast.walk(root):
            if isinstance(sub, ast.Name) and sub.id not in names:
                names.append(sub.id)
    return names


def render_stub(ex_id, entry):
    """The text of one stub file."""
    number = ex_id[2:]
    modules = {}
    functions = []  # (part number, SourceModule, FunctionDef)
    for k, (module_name, func_name) in enumerate(entry["functions"], 1):
        module = modules.get(module_name) or modules.setdefault(module_name, SourceModule(module_name))
        node = module.function(func_name)
        check_fences(module, node)
        functions.append((k, module, node))
    exercise_names = {node.name for _, _, node in functions}

    future, imports, seen = [], [], set()
    for module in modules.values():
        for imp in module.imports():
            if isinstance(imp, ast.ImportFrom):
                # Importing an exercise's solution into its own stub would hand out the answer (and be shadowed).
                imp.names = [a for a in imp.names if (a.asname or a.name) not in exercise_names]
                if not imp.names:
                    continue
            line = _format_import(imp)
            if line in seen:
                continue
            seen.add(line)
            (future if isinstance(imp, ast.ImportFrom) and imp.module == "__future__" else imports).append(line)

    # Names a signature needs that no import binds (a module constant as a default, a local decorator) are
    # imported from the library module that defines them, so the stub imports cleanly.
    bound = set(dir(builtins)) | exercise_names
    for line in imports:
        for stmt in ast.parse(line).body:
            bound.update(_bound_names(stmt))
    for _, module, node in functions:
        postponed = any("annotations" in line for line in future)  # the stub carries the future import
        missing = [n for n in _signature_names(node, annotations=not postponed) if n not in bound]
        if missing:
            line = _format_import(ast.ImportFrom(module=module.name, names=[ast.alias(n) for n in missing], level=0))
            imports.append(line)
            bound.update(missing)

    parts = "\n".join(f"    {number}.{k}  {node.name}  (library version: {module.name}.{node.name})"
                      for k, module, node in functions)
    header = textwrap.dedent('''\
        """Exercise {number}: {title}

        Lesson: lessons/{lesson}

        Replace each `raise NotImplementedError(...)` below with your own code; the docstrings say what each
        function must do. Then grade your answers from the repository root:

            python -m minprune grade {ex_id}

        (add `--file PATH` to grade a copy kept elsewhere). Parts:

        {parts}

        The library versions are the reference solutions; try on your own first.
        Generated by {generator} from the library source; do not edit the committed copy by hand.
        """
        ''').format(number=number, title=entry["title"], lesson=entry["lesson"], ex_id=ex_id, parts=parts,
                    generator=GENERATOR)
    chunks = [header]
    if future:
        chunks.append("\n".join(future) + "\n")
    if imports:
        chunks.append("\n".join(imports) + "\n")
    for k, module, node in functions:
        first = min([d.lineno for d in node.decorator_list] + [node.lineno])
        head = "\n".join(module.lines[first - 1:node.body[0].end_lineno])
        indent = " " * node.body[0].col_offset
        message = _string_literal(f"Exercise {number}.{k}: {_hint(node)}")
        chunks.append(f"\n{head}\n{indent}raise NotImplementedError({message})\n")
    return "\n".join(chunks)


def render_readme(manifest):
    rows = "\n".join(f"| `{entry['file']}` | {entry['title']} | `lessons/{entry['lesson']}` | "
                     f"`python -m minprune grade {ex_id}` |" for ex_id, entry in sorted(manifest.items()))
    table = ("| file | exercise | lesson | grade it |\n|---|---|---|---|\n" + rows) if rows else "No exercises yet."
    return textwrap.dedent("""\
        # Exercises

        Each `exNN_topic.py` here is a **stub** for one lesson: the functions you are asked to write, with their
        signatures and docstrings, and a body that only raises `NotImplementedError`. The lesson notebook uses
        the library's own (reference) version of each function, so the notebook runs whether or not you have
        done the exercise.

        1. Open the file of the lesson, read each docstring, and replace every
           `raise NotImplementedError(...)` with your code.
        2. From the repository root, grade your file:

               python -m minprune grade ex03
               python -m minprune grade ex03 --file my_copy.py   # a copy kept elsewhere

           You get a table with each part, how many of its tests pass, and a total. The graders are the
           tests in `tests/grading/`; when a test fails, the command shows how to run pytest for the details.
        3. You may do the parts in any order; a part you leave unfinished simply scores 0.
           To start a file over: `git checkout lessons/exercises/ex03_*.py`.

        The reference solutions are the library functions named at the top of each file (look after trying).

        For developers: these files are generated by `python tools/make_exercises.py` from the fenced
        (`# BEGIN SOLUTION` / `# END SOLUTION`) library functions listed in `minprune/grading.py`. Never
        edit them by hand: change the library and regenerate. `python tools/make_exercises.py --check` (run
        by CI and by the test suite) fails when they are out of date. (Students: regenerating overwrites
        your answers, so leave that command to the developers.)

        """) + table + "\n"


def render_all(manifest):
    """{file name: text} for every stub and the README, in a fixed order."""
    files = {"README.md": render_readme(manifest)}
    for ex_id, entry in sorted(manifest.items()):
        files[entry["file"]] = render_stub(ex_id, entry)
    return files


# ---------------------------------------------------------------------------------------------------------------
# Writing and checking
# ---------------------------------------------------------------------------------------------------------------

def _is_generated_name(name):
    return name == "README.md" or re.fullmatch(r"ex\d\d_\w+\.py", name) is not None


def check(out_dir, manifest):
    """Differences between `out_dir` and freshly rendered stubs: a list of "stale: x", "missing: x", "extra: x"."""
    out_dir = Path(out_dir)
    expected = render_all(manifest)
    problems = []
    for name, text in expected.items():
        path = out_dir / name
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"stale: {path}")
    if out_dir.is_dir():
        for path in sorted(out_dir.iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.suffix != ".pyc" \
                    and path.name not in expected:
                problems.append(f"extra: {path}")
    return problems


def write(out_dir, manifest):
    """Write every stub and the README into `out_dir`; remove stubs of exercises no longer in the manifest."""
    out_dir = Path(out_dir)
    expected = render_all(manifest)  # render everything first: an error leaves the folder untouched
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in expected.items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8", newline="\n")
            changed.append(f"wrote: {path}")
    for path in sorted(out_dir.iterdir()):
        if path.is_file() and _is_generated_name(path.name) and path.name not in expected:
            path.unlink()
            changed.append(f"removed: {path}")
    return changed


def main(argv=None, manifest=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 listing stale, missing and extra files if the folder differs")
    parser.add_argument("--out", type=Path, default=ROOT / "lessons" / "exercises",
                        help="folder to write or check (default: lessons/exercises)")
    args = parser.parse_args(argv)
    if manifest is None:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))  # run as `python tools/make_exercises.py` from a clone
        from minprune.grading import EXERCISES, validate_manifest

        problems = validate_manifest(EXERCISES)
        if problems:
            print("error: invalid manifest in minprune/grading.py:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 2
        manifest = EXERCISES
    try:
        if args.check:
            problems = check(args.out, manifest)
            if problems:
                print(f"{args.out} is out of date (run `python {GENERATOR}`):\n  " + "\n  ".join(problems))
                return 1
            print(f"{args.out}: up to date ({len(manifest)} exercise(s))")
            return 0
        changed = write(args.out, manifest)
    except StubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(changed) if changed else f"{args.out}: already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
