"""The exercise edition: the solved notebooks with the core functions left for the learner.

The solved notebooks in ``notebooks/`` are the single source. nbgrader's
``generate_assignment`` makes the learner's edition from them: it replaces the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` with ``# YOUR CODE HERE`` /
``raise NotImplementedError()``, clears the outputs and locks the check cells. The marking,
which ``verify`` holds every exercise notebook to (docs/exercise-edition.md):

- **exercise cell**: one function, the learner's part of its body between the two markers
  (the signature and docstring stay); metadata ``nbgrader: {solution: true, grade: false,
  locked: false, grade_id: NAME, schema_version: 3}``, NAME an exercise of
  ``dlcore.exercises`` for this notebook;
- **check cell**: the next code cell. It starts with ``check.NAME(NAME)``, then may verify
  the function the notebook's own way (values, ``dlcore``, finite differences) — lines that
  run only once the check passed. Metadata ``nbgrader: {grade: true, locked: true,
  points: 1, solution: false, grade_id: "check_NAME", schema_version: 3}``;
- every other cell works without the learner's functions (it uses ``dlcore``), and uses no
  name that only a check cell defines;
- ``from dlcore.exercises import check, score`` before the first exercise, and the last code
  cell is ``score(N)``, N the notebook's number, whose exercises are the notebook's.

Commands, ``python -m dlcore.exercises.edition COMMAND`` (``make`` runs them)::

    mark NOTEBOOK ...         write the nbgrader metadata the code's marking implies
    verify [NOTEBOOK ...]     check the marking (default: every notebook in notebooks/)
    generate [--force]        write the learner's edition to exercises/  (make exercises)
    check [NOTEBOOK ...]      run a learner's exercise notebooks, report every check
                              (default: exercises/*.ipynb)             (make check-exercises)

nbgrader runs from a build-only environment, ``.venv-nbgrader``, made on first use: a venv
that sees the course's packages through a ``.pth`` file and adds only nbgrader and the
five packages it needs on top (:data:`NBGRADER_REQUIREMENTS`), so its JupyterLab and server
extensions never reach the learner's ``.venv``. The learner's edition needs no nbgrader.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: nbgrader and what it adds to the course's environment, pinned like everything else
NBGRADER_REQUIREMENTS = (
    "nbgrader==0.9.6",
    "notebook==7.6.5",
    "SQLAlchemy==2.1.9",
    "alembic==1.20.1",
    "Mako==1.4.3",
    "RapidFuzz==3.14.6",
)
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SCHEMA_VERSION = 3
#: what nbgrader leaves in place of a solution region (its default, pinned here)
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
ASSIGNMENT = "exercises"

EDITION_README = """\
# Your exercise edition

This folder is yours: `make exercises` wrote it from the solved notebooks in `../notebooks/`
and never overwrites a notebook here that you changed (`make exercises FORCE=1` does).

1. Open `01-logistic-regression.ipynb` and read from the top, running each cell.
2. Where a function says `# YOUR CODE HERE`, replace that line and
   `raise NotImplementedError()` with your code, and run the cell.
3. Run the check cell right below it. It prints one line: `NAME: all N checks passed`, or
   what is wrong with your function ("dw is m times too large: the 1/m is missing").
   Fix and run both cells again until it passes.
4. The cells after a check use `dlcore`'s own functions, so the notebook keeps working
   while one of yours is unfinished. The last cell prints your score for the notebook.

`make check-exercises` (in the repository's root folder) runs every notebook here and lists
each check's verdict. Stuck? The solved notebook of the same name is in `../notebooks/`.
How it all works: `docs/exercise-edition.md`.
"""


# -- reading the marking ------------------------------------------------------------------


@dataclass
class Marked:
    """One exercise as a notebook marks it: its function and the two cells (indices)."""

    name: str
    cell: int
    check_cell: int | None = None


@dataclass
class Marking:
    """What ``verify`` found in one notebook."""

    path: Path
    exercises: list[Marked] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    is_exercise_notebook: bool = False

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.exercises]


def notebook_number(path: Path) -> int | None:
    match = re.match(r"(\d+)-", path.name)
    return int(match.group(1)) if match else None


def _python(source: str) -> str:
    """A code cell's source as plain Python (IPython's magics and shell escapes turned into
    calls), so that ``ast`` can read it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython, drop the lines ast cannot read
        return "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
        )
    return TransformerManager().transform_cell(source)


class _Names(ast.NodeVisitor):
    """The names a cell binds at its top level and the global names it reads (anywhere,
    function bodies included: they are read when the function runs)."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.loads: set[str] = set()
        self._scopes: list[set[str]] = []

    def _bind(self, name: str) -> None:
        if not self._scopes:
            self.bound.add(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            if not any(node.id in scope for scope in self._scopes):
                self.loads.add(node.id)
        else:
            self._bind(node.id)

    def _function(self, node: ast.AST, body: list[ast.AST] | ast.AST) -> None:
        args = node.args
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.visit(default)
        local = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        local |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        body = body if isinstance(body, list) else [body]
        for statement in body:
            for sub in ast.walk(statement):
                if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
                    local.add(sub.id)
                elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    local.add(sub.name)
        self._scopes.append(local)
        for statement in body:
            self.visit(statement)
        self._scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._bind(node.name)
        self._function(node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node, node.body)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases]:
            self.visit(expr)
        self._bind(node.name)
        self._scopes.append(set())
        for statement in node.body:
            self.visit(statement)
        self._scopes.pop()

    def _comprehension(self, node: ast.AST, *results: ast.AST) -> None:
        targets = {
            sub.id
            for generator in node.generators
            for sub in ast.walk(generator.target)
            if isinstance(sub, ast.Name)
        }
        self.visit(node.generators[0].iter)  # evaluated in the enclosing scope
        self._scopes.append(targets)
        for generator in node.generators:
            for condition in generator.ifs:
                self.visit(condition)
        for generator in node.generators[1:]:
            self.visit(generator.iter)
        for result in results:
            self.visit(result)
        self._scopes.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, node.elt)

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, node.key, node.value)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self._bind(alias.asname or alias.name)


def _check_call(statement: ast.stmt) -> tuple[str, str | None] | None:
    """``check.NAME(FN, ...)`` as a statement: (NAME, FN's name or None)."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return None
    func = statement.value.func
    if not (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "check"
    ):
        return None
    args = statement.value.args
    return func.attr, (args[0].id if args and isinstance(args[0], ast.Name) else None)


def _calls_check(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "check"
        ):
            found.append(node.func.attr)
    return found


def _expect_metadata(where: str, meta: Any, want: dict, problems: list[str]) -> None:
    if not isinstance(meta, dict):
        problems.append(f"{where}: no nbgrader metadata; it needs {json.dumps(want)}")
        return
    wrong = {k: meta.get(k) for k, v in want.items() if meta.get(k) != v}
    if wrong:
        problems.append(
            f"{where}: nbgrader metadata {json.dumps(wrong)} should be "
            f"{json.dumps({k: want[k] for k in wrong})}"
        )


def solution_metadata(name: str) -> dict:
    """The nbgrader metadata of an exercise cell."""
    return {"grade": False, "grade_id": name, "locked": False,
            "schema_version": SCHEMA_VERSION, "solution": True, "task": False}


def check_metadata(name: str, points: int = 1) -> dict:
    """The nbgrader metadata of an exercise's check cell."""
    return {"grade": True, "grade_id": f"check_{name}", "locked": True, "points": points,
            "schema_version": SCHEMA_VERSION, "solution": False, "task": False}


def read_marking(path: Path) -> Marking:
    """Read and verify the exercise marking of one solved notebook (see the module doc)."""
    from dlcore.exercises.engine import REGISTRY, exercises

    path = Path(path)
    marking = Marking(path)
    problems = marking.problems
    cells = json.loads(path.read_text())["cells"]
    number = notebook_number(path)
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    sources = {i: "".join(cells[i]["source"]) for i in code}
    trees: dict[int, ast.Module] = {}
    for i in code:
        try:
            trees[i] = ast.parse(_python(sources[i]))
        except SyntaxError as e:
            problems.append(f"{_where(cells, i)}: not valid Python ({e.msg}, line {e.lineno})")
            trees[i] = ast.Module(body=[], type_ignores=[])

    def nbgrader(i: int) -> dict | None:
        meta = cells[i].get("metadata", {}).get("nbgrader")
        return meta if isinstance(meta, dict) else None

    marking.is_exercise_notebook = any(
        nbgrader(i) or BEGIN in sources[i] or _calls_check(trees[i]) for i in code
    )
    if not marking.is_exercise_notebook:
        return marking
    if number is None:
        problems.append(f"{path.name}: the file name should start with the notebook's number")

    # exercise cells and their check cells
    check_cells: dict[int, Marked] = {}
    for k, i in enumerate(code):
        meta = nbgrader(i)
        if not (BEGIN in sources[i] or END in sources[i] or (meta and meta.get("solution"))):
            continue
        where = _where(cells, i)
        body = trees[i].body
        functions = [s for s in body if isinstance(s, ast.FunctionDef)]
        if len(body) != 1 or len(functions) != 1:
            problems.append(f"{where}: an exercise cell holds exactly one function (def) and "
                            "nothing else")
            continue
        name = functions[0].name
        marked = Marked(name, i)
        marking.exercises.append(marked)
        _expect_metadata(where, meta, solution_metadata(name), problems)
        if name not in REGISTRY:
            problems.append(f"{where}: {name} is not an exercise dlcore.exercises can check "
                            f"(docs/exercises.md lists them)")
        elif number is not None and number not in REGISTRY[name].notebooks:
            problems.append(f"{where}: dlcore.exercises lists {name} for notebook(s) "
                            f"{REGISTRY[name].notebooks}, not {number}")
        problems.extend(f"{where}: {p}" for p in _region_problems(sources[i], functions[0]))
        if k + 1 == len(code):
            problems.append(f"{where}: no check cell after it; add a code cell "
                            f"check.{name}({name})")
            continue
        j = code[k + 1]
        call = trees[j].body and _check_call(trees[j].body[0])
        if call != (name, name):
            problems.append(f"{_where(cells, j)}: the cell after the exercise {name} must start "
                            f"with check.{name}({name}), found {_first_line(sources[j])!r}")
            continue
        want = check_metadata(name)
        del want["points"]  # any positive number
        _expect_metadata(_where(cells, j), nbgrader(j), want, problems)
        points = (nbgrader(j) or {}).get("points")
        if nbgrader(j) and not (isinstance(points, int | float) and points > 0):
            problems.append(f"{_where(cells, j)}: the check cell needs nbgrader metadata "
                            f"points > 0, found {points!r}")
        marked.check_cell = j
        check_cells[j] = marked

    solution_cells = {m.cell for m in marking.exercises}
    for i in code:
        meta = nbgrader(i)
        if i not in solution_cells and i not in check_cells:
            if meta and (meta.get("grade") or meta.get("solution")):
                problems.append(f"{_where(cells, i)}: nbgrader metadata on a cell that is neither "
                                "an exercise nor the check cell right after one")
            for called in _calls_check(trees[i]):
                problems.append(f"{_where(cells, i)}: calls check.{called} outside a check cell "
                                "(the code cell right after its exercise)")
    seen: set[str] = set()
    for m in marking.exercises:
        if m.name in seen:
            problems.append(f"{path.name}: {m.name} is an exercise twice")
        seen.add(m.name)

    # dependencies: what exists only in the solved notebook, or only once a check passed
    learner: set[str] = set()  # exercise functions, bound to the learner's version
    private: dict[str, str] = {}  # name -> the exercise whose check cell binds it
    imported: set[str] = set()
    for i in code:
        names = _Names()
        names.visit(trees[i])
        free = names.loads - names.bound
        where = _where(cells, i)
        own = check_cells[i].name if i in check_cells else None
        if i in solution_cells:
            pass  # the learner's function may call the learner's other functions
        else:
            for name in sorted(free & learner - {own}):
                problems.append(
                    f"{where}: uses {name}, the learner's function (in the exercise edition a "
                    f"stub until written): use dlcore's instead"
                    + (" or move this line into the check cell of " + name if own is None else "")
                )
            for name in sorted(free & private.keys()):
                problems.append(
                    f"{where}: uses {name}, which only the check cell of {private[name]} "
                    "defines (it does not exist until that check passes): define it in a cell "
                    "of its own"
                )
        if i in solution_cells and not {"check", "score"} <= imported:
            problems.append(f"{where}: import check and score first "
                            "(from dlcore.exercises import check, score)")
        for name in names.bound:
            learner.discard(name)
            private.pop(name, None)
        if i in solution_cells:
            learner |= {m.name for m in marking.exercises if m.cell == i}
        elif own is not None:
            private.update({name: own for name in names.bound})
        for statement in trees[i].body:
            if isinstance(statement, ast.ImportFrom) and statement.module == "dlcore.exercises":
                imported |= {a.asname or a.name for a in statement.names}

    # the score line
    if code:
        last = code[-1]
        if sources[last].strip() != f"score({number})":
            problems.append(f"{_where(cells, last)}: the last code cell should be "
                            f"score({number}), found {_first_line(sources[last])!r}")
    if number is not None:
        listed = exercises(number)
        if sorted(marking.names) != sorted(listed):
            problems.append(
                f"{path.name}: its exercises ({', '.join(marking.names) or 'none'}) are not "
                f"the ones dlcore.exercises lists for notebook {number} "
                f"({', '.join(listed) or 'none'}), which score({number}) counts: mark the "
                "missing ones or correct the exercise's notebooks in dlcore/exercises/"
            )
    return marking


def _region_problems(source: str, function: ast.FunctionDef) -> list[str]:
    """The solution markers: balanced, in order, inside the function's body."""
    problems, inside = [], False
    lines = source.splitlines()
    body_start = function.body[0].lineno
    regions = 0
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if text not in (BEGIN, END):
            if BEGIN in text or END in text:
                problems.append(f"line {lineno}: a marker must be alone on its line: {text!r}")
            continue
        if lineno < body_start or not line.startswith((" ", "\t")):
            problems.append(f"line {lineno}: {text} must be inside the function's body, "
                            "indented (the learner keeps the signature and docstring)")
        if (text == BEGIN) == inside:
            problems.append(f"line {lineno}: {text} without its "
                            f"{'END' if inside else 'BEGIN'} SOLUTION")
        inside = text == BEGIN
        regions += text == BEGIN
    if inside:
        problems.append(f"{BEGIN} without its {END}")
    if regions == 0:
        problems.append(f"no solution region: put the learner's lines between {BEGIN} "
                        f"and {END}")
    return problems


def _first_line(source: str) -> str:
    return source.strip().splitlines()[0] if source.strip() else ""


def _where(cells: list[dict], i: int) -> str:
    cell_id = cells[i].get("id")
    return f"cell {i}" + (f" (id {cell_id})" if cell_id else "")


def mark(path: Path) -> list[str]:
    """Set the nbgrader metadata of a solved notebook from what its code says.

    The teacher writes the convention in the code — the solution markers in an exercise's
    function, ``check.NAME(NAME)`` at the top of the next code cell — and ``mark`` writes
    the metadata nbgrader needs (which JupyterLab does not show), keeping a check cell's
    points. Returns what it marked; run ``verify`` afterwards.
    """
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    done = []
    for k, cell in enumerate(code):
        if BEGIN not in cell.source:
            continue
        try:
            body = ast.parse(_python(cell.source)).body
        except SyntaxError:
            continue
        if len(body) != 1 or not isinstance(body[0], ast.FunctionDef):
            continue
        name = body[0].name
        cell.metadata["nbgrader"] = solution_metadata(name)
        done.append(f"exercise {name}")
        if k + 1 < len(code):
            following = code[k + 1]
            try:
                first = ast.parse(_python(following.source)).body[:1]
            except SyntaxError:
                first = []
            if first and _check_call(first[0]) == (name, name):
                old = following.metadata.get("nbgrader", {})
                points = old.get("points", 1) if isinstance(old, dict) else 1
                following.metadata["nbgrader"] = check_metadata(name, points)
                done.append(f"check cell of {name}")
    nbformat.write(notebook, path)
    return done


def solved_notebooks(source: Path) -> list[Path]:
    return sorted(Path(source).glob("[0-9]*.ipynb"))


def verify(paths: list[Path]) -> tuple[list[Marking], list[str]]:
    """Read the marking of every notebook: (markings, problems as 'file: cell: words')."""
    markings = [read_marking(p) for p in paths]
    problems = [f"{m.path.name}: {p}" if not p.startswith(m.path.name) else p
                for m in markings for p in m.problems]
    return markings, problems


# -- nbgrader in its own environment -------------------------------------------------------


def ensure_nbgrader(env: Path) -> Path:
    """The ``nbgrader`` command of the build environment ``env``, made if missing."""
    env = Path(env).absolute()
    stamp = env / ".installed"
    nbgrader = env / "bin" / "nbgrader"
    wanted = "\n".join(NBGRADER_REQUIREMENTS) + "\n"
    if nbgrader.exists() and stamp.exists() and stamp.read_text() == wanted:
        return nbgrader
    start = time.perf_counter()
    print(f"exercises: making nbgrader's build environment {env} (once)", flush=True)
    shutil.rmtree(env, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # The build env sees the course's packages (pip included) after its own: pip installs
    # only what nbgrader adds, into the build env, and never touches the course's .venv.
    course = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    Path(site, "simpledl-course.pth").write_text("".join(f"{p}\n" for p in course))
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *NBGRADER_REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    print(f"exercises: nbgrader installed in {time.perf_counter() - start:.0f} s", flush=True)
    return nbgrader


# -- generating the learner's edition ------------------------------------------------------


def generate(source: Path, out: Path, nbgrader: Path, force: bool = False) -> list[str]:
    """Write the exercise edition of the notebooks in ``source`` to ``out``.

    Only notebooks with exercises are written. A notebook already in ``out`` that differs
    from the new one (the learner's work) is kept unless ``force``. Returns what happened,
    one line per notebook.
    """
    markings, problems = verify(solved_notebooks(source))
    if problems:
        raise MarkingError(problems)
    marked = [m for m in markings if m.is_exercise_notebook]
    if not marked:
        raise MarkingError([f"no notebook in {source} has exercises"])
    with tempfile.TemporaryDirectory(prefix="simpledl-exercises-") as tmp:
        course = Path(tmp)
        staged = course / "source" / ASSIGNMENT
        staged.mkdir(parents=True)
        for m in marked:
            shutil.copyfile(m.path, staged / m.path.name)
        (course / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            'c.CourseDirectory.course_id = "simpledl"\n'
            f"c.ClearSolutions.code_stub = {{'python': {CODE_STUB!r}}}\n"
        )
        result = subprocess.run(
            [str(nbgrader), "generate_assignment", ASSIGNMENT, "--no-db", "--force",
             "--log-level=WARN"],
            cwd=course, capture_output=True, text=True,
        )
        released = course / "release" / ASSIGNMENT
        made = {m.path.name: released / m.path.name for m in marked}
        missing = [name for name, p in made.items() if not p.exists()]
        if result.returncode != 0 or missing:
            raise RuntimeError(
                f"nbgrader generate_assignment failed (exit {result.returncode}"
                + (f", missing {missing}" if missing else "") + "):\n"
                + (result.stdout + result.stderr).strip()
            )
        for name, p in made.items():
            leftover = BEGIN in p.read_text() or END in p.read_text()
            if leftover:
                raise RuntimeError(f"nbgrader left a solution marker in {name}")
        out.mkdir(parents=True, exist_ok=True)
        report = []
        for name, p in made.items():
            target = out / name
            new = p.read_bytes()
            if target.exists() and target.read_bytes() == new:
                report.append(f"{name}: up to date")
            elif target.exists() and not force:
                report.append(f"{name}: kept yours (it differs from a fresh copy; FORCE=1 "
                              "replaces it)")
            else:
                verb = "replaced" if target.exists() else "written"
                target.write_bytes(new)
                exercises_ = next(m for m in marked if m.path.name == name).names
                report.append(f"{name}: {verb} ({len(exercises_)} exercises: "
                              f"{', '.join(exercises_)})")
        readme = out / "README.md"
        if force or not readme.exists():
            readme.write_text(EDITION_README)
    return report


class MarkingError(Exception):
    """The solved notebooks' exercise marking is incomplete: one problem per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- checking a learner's notebooks -------------------------------------------------------


@dataclass
class Verdict:
    """One check cell's outcome in an executed notebook."""

    exercise: str
    passed: bool
    message: str = ""  # the one line a failing check (or the cell) gave

    @property
    def not_started(self) -> bool:
        return not self.passed and self.message.endswith("not implemented yet")


@dataclass
class NotebookResult:
    path: Path
    verdicts: list[Verdict]
    other_errors: list[str]  # errors outside check cells, one line each
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(v.passed for v in self.verdicts)

    @property
    def ok(self) -> bool:
        return self.passed == len(self.verdicts) and not self.other_errors


def _error_line(output: dict) -> str:
    return " ".join(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".split())


def _exercise_of(cell: dict) -> str | None:
    """The exercise a check cell checks (its nbgrader grade id, else its first line)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id", "") if isinstance(meta, dict) else ""
    if isinstance(meta, dict) and meta.get("grade") and grade_id.startswith("check_"):
        return grade_id.removeprefix("check_")
    try:
        tree = ast.parse(_python("".join(cell["source"])))
    except SyntaxError:
        return None
    call = tree.body and _check_call(tree.body[0])
    return call[0] if call else None


def results_of(notebook: dict, path: Path) -> NotebookResult:
    """Read an executed notebook: each check cell's verdict, and errors elsewhere."""
    verdicts, others = [], []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        exercise = _exercise_of(cell)
        if exercise is None:
            if errors:
                first = _first_line("".join(cell["source"]))
                others.append(f"the cell starting {first!r} raised {_error_line(errors[0])}")
            continue
        if cell.get("execution_count") is None:
            verdicts.append(Verdict(exercise, False, f"{exercise}: the check cell did not run"))
        elif not errors:
            verdicts.append(Verdict(exercise, True))
        elif errors[0].get("ename") == "CheckFailed":
            verdicts.append(Verdict(exercise, False, " ".join(errors[0]["evalue"].split())))
        else:
            verdicts.append(Verdict(exercise, False,
                                    f"{exercise}: the check cell raised {_error_line(errors[0])}"))
    return NotebookResult(Path(path), verdicts, others)


def run_notebook(path: Path, timeout: int = 900) -> dict:
    """Execute a notebook top to bottom in a fresh kernel, on to the end whatever fails;
    the file is not changed. Returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
        store_widget_state=False, resources={"metadata": {"path": str(Path(path).parent)}},
    )
    try:
        # the kernel process's own stderr carries only its start-up notices
        client.execute(stderr=subprocess.DEVNULL)
    except (CellTimeoutError, DeadKernelError) as e:  # the rest stays unexecuted
        notebook.metadata["simpledl_stopped"] = " ".join(str(e).split())[:200]
    return notebook


def check_notebooks(paths: list[Path], out=None) -> list[NotebookResult]:
    """Run each notebook and print its verdicts as they come (see :func:`report`)."""
    out = out or sys.stdout
    results = []
    for path in paths:
        start = time.perf_counter()
        notebook = run_notebook(path)
        result = results_of(notebook, path)
        stopped = notebook.metadata.get("simpledl_stopped")
        if stopped:
            result.other_errors.append(f"stopped: {stopped}")
        result.seconds = time.perf_counter() - start
        print(notebook_report(result), file=out, flush=True)
        results.append(result)
    return results


def notebook_report(result: NotebookResult) -> str:
    """The lines for one notebook: its score, then each failing check's one line."""
    n, name = len(result.verdicts), result.path.stem
    if n and all(v.not_started for v in result.verdicts) and not result.other_errors:
        return f"{name}: not started ({n} exercises, none written yet)"
    head = f"{name}: passed {result.passed} of {n} exercises"
    if result.ok:
        head += " - complete"
    lines = [head]
    lines += [f"    {v.message}" for v in result.verdicts if not v.passed]
    lines += [f"    {e}" for e in result.other_errors]
    return "\n".join(lines)


def summary(results: list[NotebookResult]) -> str:
    """The closing line: the total, and where to go on."""
    total = sum(len(r.verdicts) for r in results)
    passed = sum(r.passed for r in results)
    line = f"passed {passed} of {total} exercises in {len(results)} notebook(s)"
    complete = [r.path.stem.split("-")[0] for r in results if r.ok]
    if complete:
        line += f"; complete: notebook {', '.join(n.lstrip('0') for n in complete)}"
    todo = [(r, v) for r in results for v in r.verdicts if not v.passed]
    if todo:
        r, v = todo[0]
        line += f"; next: {v.exercise} in {r.path.name}"
    elif any(r.other_errors for r in results):
        line += "; some cells raised errors (listed above)"
    return line


# -- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlcore.exercises.edition",
        description="The course's exercise edition: verify the marking, generate it with "
                    "nbgrader, check a learner's notebooks.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    m = commands.add_parser("mark", help="write the nbgrader metadata the code's marking implies")
    m.add_argument("notebooks", nargs="+", type=Path)
    v = commands.add_parser("verify", help="check the exercise marking of solved notebooks")
    v.add_argument("notebooks", nargs="*", type=Path)
    v.add_argument("--source", type=Path, default=Path("notebooks"))
    g = commands.add_parser("generate", help="write the learner's edition with nbgrader")
    g.add_argument("--source", type=Path, default=Path("notebooks"))
    g.add_argument("--out", type=Path, default=Path("exercises"))
    g.add_argument("--nbgrader-env", type=Path, default=Path(".venv-nbgrader"))
    g.add_argument("--force", action="store_true",
                   help="replace notebooks in --out even where they differ (the learner's work)")
    c = commands.add_parser("check", help="run a learner's exercise notebooks, report the checks")
    c.add_argument("notebooks", nargs="*", type=Path)
    c.add_argument("--dir", type=Path, default=Path("exercises"))
    args = parser.parse_args(argv)

    if args.command == "mark":
        for path in args.notebooks:
            print(f"{path.name}: marked " + (", ".join(mark(path)) or "nothing"))
        markings, problems = verify(args.notebooks)
        for problem in problems:
            print(f"problem: {problem}")
        return 1 if problems else 0

    if args.command == "verify":
        markings, problems = verify(args.notebooks or solved_notebooks(args.source))
        for m in markings:
            names = ", ".join(m.names)
            print(f"{m.path.name}: " + (f"{len(m.names)} exercises ({names})"
                                        if m.is_exercise_notebook else "no exercises"))
        for problem in problems:
            print(f"problem: {problem}")
        return 1 if problems else 0

    if args.command == "generate":
        start = time.perf_counter()
        try:
            nbgrader = ensure_nbgrader(args.nbgrader_env)
            lines = generate(args.source, args.out, nbgrader, force=args.force)
        except MarkingError as e:
            print("exercises: the solved notebooks' marking is incomplete "
                  "(docs/exercise-edition.md):")
            print("\n".join(f"  {p}" for p in e.problems))
            return 1
        except (RuntimeError, subprocess.CalledProcessError) as e:
            print(f"exercises: {e}")
            return 1
        for line in lines:
            print(f"  {args.out}/{line}")
        print(f"exercises: the exercise edition is in {args.out}/ "
              f"({time.perf_counter() - start:.1f} s); start with {args.out}/README.md")
        return 0

    paths = args.notebooks or sorted(args.dir.glob("[0-9]*.ipynb"))
    if not paths:
        print(f"check-exercises: no exercise notebooks in {args.dir}/: "
              "run `make exercises` first")
        return 2
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"check-exercises: no such notebook: {', '.join(map(str, missing))}")
        return 2
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print(f"check-exercises: running {len(paths)} notebook(s) top to bottom, each in a fresh "
          "kernel (your files are not changed; about a minute each)", flush=True)
    results = check_notebooks(paths)
    print(summary(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
