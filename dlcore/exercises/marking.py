"""How a solved notebook marks its exercises, and the check that the marking is complete.

The solved notebooks in ``notebooks/`` are the single source of the exercise edition, which
nbgrader generates from them (:mod:`dlcore.exercises.edition`). An exercise is marked the
way nbgrader reads it, plus what keeps the learner's edition running
(docs/exercise-edition.md):

- **exercise cell**: one function; the learner's part of its body sits between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the signature and docstring stay, nbgrader
  puts ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` in place of the region).
  Metadata ``nbgrader: {solution: true, grade: false, locked: false, grade_id: NAME,
  schema_version: 3}``, NAME an exercise of ``dlcore.exercises`` for this notebook;
- **check cell**: the next code cell. It starts with ``check.NAME(NAME)``, then may verify
  the function the notebook's own way (values, ``dlcore``, finite differences) — lines that
  run only once the check passed. Metadata ``nbgrader: {grade: true, locked: true,
  points: 1, solution: false, grade_id: "check_NAME", schema_version: 3}``;
- every other cell works without the learner's functions (it uses ``dlcore``) and uses no
  name that only a check cell defines, so the notebook runs on while a function is a stub;
- ``from dlcore.exercises import check, score`` comes before the first exercise, and the last
  code cell is ``score(N)``, N the notebook's number; the notebook's exercises are the ones
  ``dlcore.exercises`` lists for notebook N (``score(N)`` counts those).

:func:`mark` writes the metadata from the code (markers and check calls), :func:`verify`
checks all of it. A notebook with no marker, no nbgrader metadata and no ``check.`` call has
no exercises.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SCHEMA_VERSION = 3


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


def python_source(source: str) -> str:
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


def check_call(statement: ast.stmt) -> tuple[str, str | None] | None:
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
        problems.append(f"{where}: no nbgrader metadata; it needs {json.dumps(want)} "
                        "(python -m dlcore.exercises.edition mark NOTEBOOK writes it)")
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


@dataclass
class _Notebook:
    """A notebook's code cells, parsed: index -> source, syntax tree, nbgrader metadata."""

    path: Path
    cells: list[dict]
    code: list[int]
    sources: dict[int, str]
    trees: dict[int, ast.Module]

    def nbgrader(self, i: int) -> dict | None:
        meta = self.cells[i].get("metadata", {}).get("nbgrader")
        return meta if isinstance(meta, dict) else None

    def where(self, i: int) -> str:
        cell_id = self.cells[i].get("id")
        return f"cell {i}" + (f" (id {cell_id})" if cell_id else "")


def _parse(path: Path, problems: list[str]) -> _Notebook:
    cells = json.loads(path.read_text())["cells"]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    notebook = _Notebook(path, cells, code, {i: "".join(cells[i]["source"]) for i in code}, {})
    for i in code:
        try:
            notebook.trees[i] = ast.parse(python_source(notebook.sources[i]))
        except SyntaxError as e:
            problems.append(f"{notebook.where(i)}: not valid Python ({e.msg}, line {e.lineno})")
            notebook.trees[i] = ast.Module(body=[], type_ignores=[])
    return notebook


def read_marking(path: Path) -> Marking:
    """Read and verify the exercise marking of one solved notebook (see the module doc)."""
    from dlcore.exercises.engine import exercises

    path = Path(path)
    marking = Marking(path)
    nb = _parse(path, marking.problems)
    marking.is_exercise_notebook = any(
        nb.nbgrader(i) or BEGIN in nb.sources[i] or _calls_check(nb.trees[i]) for i in nb.code
    )
    if not marking.is_exercise_notebook:
        return marking
    number = notebook_number(path)
    if number is None:
        marking.problems.append("the file name should start with the notebook's number")
    _exercise_and_check_cells(nb, number, marking)
    _dependencies(nb, marking)
    if nb.code and nb.sources[nb.code[-1]].strip() != f"score({number})":
        marking.problems.append(f"{nb.where(nb.code[-1])}: the last code cell should be "
                                f"score({number}), found {first_line(nb.sources[nb.code[-1]])!r}")
    if number is not None and sorted(marking.names) != sorted(exercises(number)):
        marking.problems.append(
            f"its exercises ({', '.join(marking.names) or 'none'}) are not the ones "
            f"dlcore.exercises lists for notebook {number} "
            f"({', '.join(exercises(number)) or 'none'}), which score({number}) counts: mark "
            "the missing ones or correct the exercise's notebooks in dlcore/exercises/"
        )
    return marking


def _exercise_and_check_cells(nb: _Notebook, number: int | None, marking: Marking) -> None:
    """Each exercise cell: one function of the registry, a solution region, its metadata,
    and the check cell right after it; no check call or nbgrader metadata elsewhere."""
    from dlcore.exercises.engine import REGISTRY

    problems = marking.problems
    for k, i in enumerate(nb.code):
        meta = nb.nbgrader(i)
        source = nb.sources[i]
        if not (BEGIN in source or END in source or (meta and meta.get("solution"))):
            continue
        where, body = nb.where(i), nb.trees[i].body
        if len(body) != 1 or not isinstance(body[0], ast.FunctionDef):
            problems.append(f"{where}: an exercise cell holds exactly one function (def) and "
                            "nothing else")
            continue
        name = body[0].name
        marked = Marked(name, i)
        marking.exercises.append(marked)
        _expect_metadata(where, meta, solution_metadata(name), problems)
        if name not in REGISTRY:
            problems.append(f"{where}: {name} is not an exercise dlcore.exercises can check "
                            "(docs/exercises.md lists them)")
        elif number is not None and number not in REGISTRY[name].notebooks:
            problems.append(f"{where}: dlcore.exercises lists {name} for notebook(s) "
                            f"{REGISTRY[name].notebooks}, not {number}")
        problems.extend(f"{where}: {p}" for p in _region_problems(source, body[0]))
        if k + 1 == len(nb.code):
            problems.append(f"{where}: no check cell after it; add a code cell "
                            f"check.{name}({name})")
            continue
        j = nb.code[k + 1]
        call = nb.trees[j].body and check_call(nb.trees[j].body[0])
        if call != (name, name):
            problems.append(f"{nb.where(j)}: the cell after the exercise {name} must start "
                            f"with check.{name}({name}), found {first_line(nb.sources[j])!r}")
            continue
        want = check_metadata(name)
        if nb.nbgrader(j) is not None:
            del want["points"]  # any positive number will do
            points = nb.nbgrader(j).get("points")
            if not (isinstance(points, int | float) and points > 0):
                problems.append(f"{nb.where(j)}: the check cell needs nbgrader metadata "
                                f"points > 0, found {points!r}")
        _expect_metadata(nb.where(j), nb.nbgrader(j), want, problems)
        marked.check_cell = j

    marked_cells = {m.cell for m in marking.exercises} | {m.check_cell for m in marking.exercises}
    for i in nb.code:
        if i in marked_cells:
            continue
        meta = nb.nbgrader(i)
        if meta and (meta.get("grade") or meta.get("solution")):
            problems.append(f"{nb.where(i)}: nbgrader metadata on a cell that is neither an "
                            "exercise nor the check cell right after one")
        for called in _calls_check(nb.trees[i]):
            problems.append(f"{nb.where(i)}: calls check.{called} outside a check cell (the "
                            "code cell right after its exercise)")
    names = marking.names
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name} is an exercise twice")


def _dependencies(nb: _Notebook, marking: Marking) -> None:
    """Nothing outside an exercise's own two cells may need the learner's function, nor a
    name that only a check cell defines (which does not exist until that check passes)."""
    problems = marking.problems
    solution_cells = {m.cell: m.name for m in marking.exercises}
    check_cells = {m.check_cell: m.name for m in marking.exercises if m.check_cell is not None}
    learner: set[str] = set()  # exercise functions, bound to the learner's version
    private: dict[str, str] = {}  # name -> the exercise whose check cell binds it
    imported: set[str] = set()
    for i in nb.code:
        names = _Names()
        names.visit(nb.trees[i])
        free = names.loads - names.bound
        where, own = nb.where(i), check_cells.get(i)
        if i in solution_cells:  # may call the learner's other functions
            if not {"check", "score"} <= imported:
                problems.append(f"{where}: import check and score before the first exercise "
                                "(from dlcore.exercises import check, score)")
        else:
            for name in sorted(free & learner - {own}):
                problems.append(
                    f"{where}: uses {name}, the learner's function (in the exercise edition a "
                    "stub until written): use dlcore's instead"
                    + (f", or move this into the check cell of {name}" if own is None else "")
                )
            for name in sorted(free & private.keys()):
                problems.append(
                    f"{where}: uses {name}, which only the check cell of {private[name]} "
                    "defines (it does not exist until that check passes): define it in a cell "
                    "of its own"
                )
        for name in names.bound:
            learner.discard(name)
            private.pop(name, None)
        if i in solution_cells:
            learner.add(solution_cells[i])
        elif own is not None:
            private.update(dict.fromkeys(names.bound, own))
        for statement in nb.trees[i].body:
            if isinstance(statement, ast.ImportFrom) and statement.module == "dlcore.exercises":
                imported |= {a.asname or a.name for a in statement.names}


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


def first_line(source: str) -> str:
    return source.strip().splitlines()[0] if source.strip() else ""


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
            body = ast.parse(python_source(cell.source)).body
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
                first = ast.parse(python_source(following.source)).body[:1]
            except SyntaxError:
                first = []
            if first and check_call(first[0]) == (name, name):
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



class MarkingError(Exception):
    """The solved notebooks' exercise marking is incomplete: one problem per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
