"""The exercise edition: made by nbgrader from the solved notebooks, and checked for a learner.

The solved notebooks in ``notebooks/`` are the single source. They mark their exercises the
way nbgrader reads them (:mod:`dlcore.exercises.marking`, docs/exercise-edition.md), and
nbgrader's ``generate_assignment`` makes the learner's edition: the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` become ``# YOUR CODE HERE`` /
``raise NotImplementedError()``, outputs are cleared, check cells locked. Nothing here
strips a notebook by hand. The learner's edition needs no nbgrader to run.

Commands, ``python -m dlcore.exercises.edition COMMAND`` (``make`` runs them)::

    mark NOTEBOOK ...         write the nbgrader metadata the code's marking implies
    verify [NOTEBOOK ...]     check the marking (default: every notebook in notebooks/)
    generate [--force]        write the learner's edition to exercises/  (make exercises)
    check [NOTEBOOK ...]      run a learner's exercise notebooks, report every check
                              (default: exercises/*.ipynb)             (make check-exercises)

nbgrader runs from a build-only environment, ``.venv-nbgrader``, made on first use: a venv
that sees the course's packages through a ``.pth`` file and adds only nbgrader and the five
packages it needs on top (:data:`NBGRADER_REQUIREMENTS`, about 80 MB), so its JupyterLab and
server extensions never reach the learner's ``.venv``.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dlcore.exercises.marking import (
    BEGIN,
    END,
    MarkingError,
    check_call,
    first_line,
    mark,
    python_source,
    solved_notebooks,
    verify,
)

#: nbgrader and what it adds to the course's environment, pinned like everything else
NBGRADER_REQUIREMENTS = (
    "nbgrader==0.9.6",
    "notebook==7.6.5",
    "SQLAlchemy==2.1.9",
    "alembic==1.20.1",
    "Mako==1.4.3",
    "RapidFuzz==3.14.6",
)
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


# -- nbgrader in its own environment -------------------------------------------------------


def ensure_nbgrader(env: Path) -> Path:
    """The ``nbgrader`` command of the build environment ``env``, made if missing."""
    env = Path(env).absolute()
    stamp = env / ".installed"
    nbgrader = env / "bin" / "nbgrader"
    # rebuilt when the pins, or the course's interpreter it layers on, change
    wanted = "\n".join([*NBGRADER_REQUIREMENTS, sys.version, sys.prefix]) + "\n"
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


def release(source: Path, nbgrader: Path) -> dict[str, tuple[bytes, list[str]]]:
    """The exercise edition of the notebooks in ``source`` that have exercises, made by
    nbgrader: {file name: (the notebook's bytes, its exercises)}."""
    source = Path(source)
    markings, problems = verify(solved_notebooks(source))
    if problems:
        raise MarkingError(problems)
    marked = [m for m in markings if m.is_exercise_notebook]
    if not marked:
        raise MarkingError([f"no notebook in {source} has exercises"])
    with tempfile.TemporaryDirectory(prefix="simpledl-exercises-") as tmp:
        # nbgrader's layout, source/<assignment>/, holding only the exercise notebooks
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
        missing = [m.path.name for m in marked if not (released / m.path.name).exists()]
        if result.returncode != 0 or missing:
            raise RuntimeError(
                f"nbgrader generate_assignment failed (exit {result.returncode}"
                + (f", missing {missing}" if missing else "") + "):\n"
                + (result.stdout + result.stderr).strip()
            )
        made = {m.path.name: ((released / m.path.name).read_bytes(), m.names) for m in marked}
    for name, (content, _) in made.items():
        if BEGIN.encode() in content or END.encode() in content:
            raise RuntimeError(f"nbgrader left a solution marker in {name}")
    return made


def install(made: dict[str, tuple[bytes, list[str]]], out: Path, force: bool = False) -> list[str]:
    """Write the edition to ``out``, keeping the learner's work: a notebook already there
    that differs from the fresh one is left alone unless ``force``. One line per notebook."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = []
    for name, (content, names) in made.items():
        target = out / name
        if target.exists() and target.read_bytes() == content:
            report.append(f"{name}: up to date")
        elif target.exists() and not force:
            report.append(f"{name}: kept yours (it differs from a fresh copy; FORCE=1 "
                          "replaces it)")
        else:
            verb = "replaced" if target.exists() else "written"
            target.write_bytes(content)
            report.append(f"{name}: {verb} ({len(names)} exercises: {', '.join(names)})")
    readme = out / "README.md"
    if force or not readme.exists():
        readme.write_text(EDITION_README)
    return report


def generate(source: Path, out: Path, nbgrader: Path, force: bool = False) -> list[str]:
    """Write the exercise edition of the notebooks in ``source`` to ``out``
    (:func:`release`, then :func:`install`). ``out`` may not lie inside ``source``: a
    notebook test run (nbval) over the solved notebooks would collect the stubs."""
    source, out = Path(source).resolve(), Path(out).resolve()
    if out == source or source in out.parents:
        raise ValueError(f"the exercise edition ({out}) must not be written inside the solved "
                         f"notebooks' folder ({source}): nbval would collect its stubs")
    return install(release(source, nbgrader), out, force)


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
    """What one executed exercise notebook says: a verdict per check cell, other errors."""

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
        tree = ast.parse(python_source("".join(cell["source"])))
    except SyntaxError:
        return None
    call = tree.body and check_call(tree.body[0])
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
                first = first_line("".join(cell["source"]))
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


def run_notebook(path: Path, timeout: int = 600) -> dict:
    """Execute a notebook top to bottom in a fresh kernel, on to the end whatever fails
    (a cell running longer than ``timeout`` seconds stops it); the file is not changed.
    Returns the executed notebook."""
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


def check_notebooks(paths: list[Path], jobs: int = 2, out=None) -> list[NotebookResult]:
    """Run the notebooks, ``jobs`` at a time (each kernel uses one BLAS thread), and print
    each one's verdicts in order as they come (:func:`notebook_report`)."""
    out = out or sys.stdout

    def check_one(path: Path) -> NotebookResult:
        start = time.perf_counter()
        notebook = run_notebook(path)
        result = results_of(notebook, path)
        stopped = notebook.metadata.get("simpledl_stopped")
        if stopped:
            result.other_errors.append(f"stopped: {stopped}")
        result.seconds = time.perf_counter() - start
        return result

    results = []
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for result in pool.map(check_one, paths):
            print(notebook_report(result), file=out, flush=True)
            results.append(result)
    return results


def notebook_report(result: NotebookResult) -> str:
    """The lines for one notebook: its score, then each failing check's one line."""
    n, name = len(result.verdicts), result.path.stem
    if not n:
        return f"{name}: no exercises in this notebook" + "".join(
            f"\n    {e}" for e in result.other_errors)
    if all(v.not_started for v in result.verdicts) and not result.other_errors:
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
    c.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="notebooks run at the same time (default: 2, or 1 on one core)")
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
        except (RuntimeError, ValueError, subprocess.CalledProcessError) as e:
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
          "kernel (your files are not changed; up to a minute each)", flush=True)
    results = check_notebooks(paths, jobs=args.jobs)
    print(summary(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
