"""The engine behind every exercise check: run the learner's function, compare, diagnose.

A check runs the learner's function on inputs it chooses (several shapes, odd sizes, one
example, float32 and float64), compares what comes back with dlcore's own answer and then
does one of two things:

- every comparison holds: print one line, ``sigmoid: all 5 checks passed``;
- something differs: raise :class:`CheckFailed` whose message is ONE line naming what is
  wrong. The catalogue of known mistakes of the exercise is tried first; each mistake is
  recognised by what the wrong output *is* — the answer a known wrong variant of the
  reference gives on the same inputs, a ratio, a sign, a transpose, a property of random
  draws — never by reading the learner's code. Anything outside the catalogue gets the
  largest wrong entry (where, the value given, the value expected), a wrong shape gets
  expected vs got, a stub gets "not implemented yet", an exception in the learner's code
  gets its type, message and the learner's line.

``CheckFailed`` is an ``AssertionError`` (so nbgrader's validate and pytest count it as a
failed test) with an IPython hook, ``_render_traceback_``, that makes a notebook show only
that one line instead of a traceback — also without ``%xmode Minimal``.

Two kinds of exercise share this engine. *Value* exercises declare cases, a reference and
mistakes (:class:`Mistake` with a ``variant``: what a function with that mistake returns);
the engine does the rest. *Property* exercises (random initialisation, dropout masks,
mini-batch shuffles) supply a ``procedure`` that calls the learner's function through a
:class:`Runner` and checks shapes, scales, rates and pairings, raising catalogued
diagnoses by key.
"""

from __future__ import annotations

import copy
import dis
import inspect
import linecache
import os
import sysconfig
import traceback
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_MESSAGE = 400


class CheckFailed(AssertionError):
    """A check's verdict on a learner's function: the one line in ``str(error)``.

    ``exercise`` names the exercise, ``mistake`` the catalogue key of the recognised mistake
    (``"not_implemented"``, ``"exception"``, ``"modified_input"``, ``"structure"``,
    ``"shape"``, ``"values"`` for the generic verdicts).
    """

    def __init__(self, message: str, exercise: str = "", mistake: str = "") -> None:
        message = " ".join(str(message).split())  # one line, whatever went in
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        super().__init__(message)
        self.exercise, self.mistake = exercise, mistake

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback: the learner sees one line.
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class Mistake:
    """One entry of an exercise's catalogue of common mistakes.

    Args:
        key: short identifier (``"no_mean"``), reported as ``CheckFailed.mistake``.
        message: the diagnosis in plain words; ``{part}`` is replaced by the output it
            concerns, other ``{fields}`` by the case's ``info`` (e.g. ``{m}``).
        variant: ``variant(*args)`` -> what a function with this mistake returns on the
            same inputs: a whole result (unpacked like the learner's) or :class:`Parts`
            for only the outputs the mistake touches (``None`` where the mistake cannot
            occur on these inputs). Leave out for mistakes recognised by ``test`` or by a
            property procedure.
        test: ``test(got, expected, case) -> bool`` on the unpacked outputs, for
            mistakes better described by a relation than by a variant (overflow ...).
        first_wrong_only: with ``Parts``, only the first wrong output must match (the
            same mistake made in several outputs is reported for the first).
    """

    key: str
    message: str
    variant: Callable[..., Any] | None = None
    test: Callable[[dict, dict, Case], bool] | None = None
    first_wrong_only: bool = False


class Parts(dict):
    """Outputs a mistake's variant gives, by output name: ``Parts(dw=dw * m)``."""


@dataclass
class Case:
    """One set of inputs for the learner's function.

    ``label`` says what the inputs are in a failure message ("float32, m = 1"); ``info``
    feeds the mistake messages' fields; ``rtol`` defaults to 1e-4 when any array
    argument is float32, else 1e-6. ``expected`` holds dlcore's answer when it was
    computed with the inputs (from a model the check built) instead of by ``reference``.
    """

    args: tuple
    label: str = ""
    info: dict = field(default_factory=dict)
    rtol: float | None = None
    expected: Any = None

    def __post_init__(self) -> None:
        if self.rtol is None:
            self.rtol = 1e-4 if _has_float32(self.args) else 1e-6


def _has_float32(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return x.dtype == np.float32
    if isinstance(x, tuple | list):
        return any(_has_float32(v) for v in x)
    return False


class StructureError(Exception):
    """The learner's result does not have the expected structure (count, type)."""


def tuple_of(*names: str, scalars: Sequence[str] = ()) -> Callable[[Any], dict]:
    """Unpack a result of ``len(names)`` values (one name: a single value, not a tuple)."""
    scalars = frozenset(scalars)

    def unpack(result: Any) -> dict:
        if len(names) == 1:
            values = (result,)
        else:
            if not isinstance(result, tuple | list):
                raise StructureError(
                    f"should return {len(names)} values ({', '.join(names)}), "
                    f"got one {_kind(result)}"
                )
            if len(result) != len(names):
                raise StructureError(
                    f"should return {len(names)} values ({', '.join(names)}), "
                    f"got {len(result)}"
                )
            values = tuple(result)
        return {n: _Scalar(v) if n in scalars else v for n, v in zip(names, values, strict=True)}

    unpack.names = names  # type: ignore[attr-defined]
    return unpack


def per_layer(*names: str, container: str = "a list") -> Callable[[Any], dict]:
    """Unpack ``[(W1, b1), (W2, b2), ...]`` into ``{"W[1]": W1, "b[1]": b1, ...}``."""

    def unpack(result: Any) -> dict:
        if not isinstance(result, tuple | list):
            raise StructureError(
                f"should return {container} with one ({', '.join(names)}) per layer, "
                f"got one {_kind(result)}"
            )
        parts = {}
        for k, item in enumerate(result, start=1):
            if not isinstance(item, tuple | list) or len(item) != len(names):
                raise StructureError(
                    f"item {k - 1} (layer {k}) should be a pair ({', '.join(names)}), "
                    f"got {_kind(item)}"
                )
            for n, v in zip(names, item, strict=True):
                parts[f"{n}[{k}]"] = v
        return parts

    return unpack


class _Scalar:
    """Marks an output that should be a number (cost, db of one unit)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _kind(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape}"
    if x is None:
        return "None"
    return type(x).__name__


# -- comparing ----------------------------------------------------------------------------


def _as_array(x: Any) -> np.ndarray | None:
    if isinstance(x, _Scalar):
        x = x.value
    if x is None or x is Ellipsis:
        return None
    try:
        a = np.asarray(x)
        if a.dtype == object:
            return None
        return a.astype(np.float64)
    except (TypeError, ValueError):
        return None


def close(got: Any, expected: Any, rtol: float) -> bool:
    """``got`` equals ``expected`` in shape, and in value up to ``rtol`` of the scale."""
    g, e = _as_array(got), _as_array(expected)
    if g is None or e is None or g.shape != e.shape:
        return False
    finite = np.isfinite(e)
    scale = float(np.max(np.abs(e[finite]), initial=0.0))
    atol = rtol * scale if scale > 0 else 1e-12
    return bool(np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True))


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _index(idx: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def describe_difference(part: str, got: Any, expected: Any, rtol: float) -> tuple[str, str]:
    """The generic verdict for one wrong output: (key, words)."""
    want_scalar = isinstance(expected, _Scalar)
    if isinstance(got, _Scalar):
        got = got.value
    if got is None:
        return "not_implemented", f"{part} is None (not implemented yet?)"
    g, e = _as_array(got), _as_array(expected)
    if g is None:
        wanted = "a number" if want_scalar else "an array"
        return "structure", f"{part} should be {wanted}, got {_kind(got)}"
    if want_scalar and g.shape != ():
        return "shape", (
            f"{part} should be a number, got an array of shape {g.shape}"
            + (" (return float(...) or np.squeeze(...))" if g.size == 1 else "")
        )
    if g.shape != e.shape:
        hint = ""
        if g.shape == e.shape[::-1] and g.ndim == 2:
            hint = " (transposed?)"
        elif g.size == e.size and g.ndim < e.ndim:
            hint = " (a sum without keepdims=True?)"
        return "shape", f"{part} has shape {g.shape}, expected {e.shape}{hint}"
    bad_finite = ~np.isfinite(g) & np.isfinite(e)
    if bad_finite.any():
        idx = tuple(np.argwhere(bad_finite)[0])
        at = f" at {_index(idx)}" if g.ndim else ""
        return "values", (
            f"{part} is {g[idx]}{at} where {_fmt(e[idx])} was expected "
            "(an overflow or a division by zero?)"
        )
    finite = np.isfinite(e)
    scale = float(np.max(np.abs(e[finite]), initial=0.0))
    tol = rtol * np.abs(e) + (rtol * scale if scale > 0 else 1e-12)
    excess = np.where(np.isnan(e) & np.isnan(g), 0.0, np.abs(g - e) - tol)
    # A constant factor says more than one entry does (a missing 1/m, a flipped sign).
    nz = np.abs(e) > 1e-12 * max(scale, 1e-300)
    if g.size > 1 and nz.sum() >= 2 and np.all(np.abs(g[~nz]) <= rtol * max(scale, 1e-12)):
        ratios = g[nz] / e[nz]
        c = float(np.median(ratios))
        if np.allclose(ratios, c, rtol=1e-6, atol=0) and not np.isclose(c, 1.0):
            if np.isclose(c, -1.0):
                return "values", f"{part} has the wrong sign (every entry is minus the expected)"
            return "values", f"{part} is {c:.6g} times the expected value (every entry)"
    if g.ndim == 0:
        return "values", f"{part} is {_fmt(float(g))}, expected {_fmt(float(e))}"
    idx = tuple(np.unravel_index(int(np.argmax(excess)), g.shape))
    n_bad = int(np.sum(excess > 0))
    return "values", (
        f"{part} is wrong at {_index(idx)}: got {_fmt(g[idx])}, expected {_fmt(e[idx])} "
        f"({n_bad} of {g.size} entries differ)"
    )


# -- calling the learner's function -------------------------------------------------------

_LIBRARY_DIRS = tuple(
    os.path.realpath(p) + os.sep
    for p in {
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # dlcore
        os.path.dirname(os.path.abspath(np.__file__)),
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    }
)


def _learner_frame(tb) -> traceback.FrameSummary | None:
    """The deepest frame of the traceback that is not in numpy, dlcore or the stdlib."""
    frames = traceback.extract_tb(tb)[1:]  # [0] is the engine calling the learner
    for frame in reversed(frames):
        path = os.path.realpath(frame.filename) if frame.filename else ""
        if not path.startswith(_LIBRARY_DIRS):
            return frame
    return None


def _is_stub(fn: Callable) -> bool:
    """True if ``fn``'s body does nothing (``...``, ``pass``, ``return None``)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    quiet = {"RESUME", "NOP", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST", "POP_TOP", "CACHE"}
    ops = list(dis.get_instructions(code))
    return all(i.opname in quiet for i in ops) and all(
        i.argval in (None, Ellipsis) for i in ops if i.opname in ("LOAD_CONST", "RETURN_CONST")
    )


def _snapshot(x: Any) -> Any:
    """What must stay unchanged of an argument: arrays, nested containers, model params."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, tuple | list):
        return [_snapshot(v) for v in x]
    if isinstance(x, dict):
        return {k: _snapshot(v) for k, v in x.items()}
    layers = getattr(x, "layers", None)
    if isinstance(layers, list):  # a dlcore model: its parameters
        return [{k: p.copy() for k, p in layer.params.items()} for layer in layers]
    return None


def _same(a: Any, b: Any) -> bool:
    """Unchanged, up to the round-off of restoring a nudged value (x + eps - eps)."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape:
            return False
        if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
            return bool(np.array_equal(a, b))
        scale = float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0))
        return bool(np.allclose(a, b, rtol=1e-12, atol=1e-12 * scale, equal_nan=True))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return True


def parameter_names(fn: Callable) -> list[str]:
    """The names of ``fn``'s parameters, in order; ``[]`` when Python cannot tell (builtins)."""
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


class Runner:
    """Calls one learner's function for one exercise and turns what it sees into verdicts."""

    def __init__(self, exercise: Exercise, fn: Callable) -> None:
        self.exercise, self.fn = exercise, fn
        self.name = exercise.name
        self.rng = np.random.default_rng(zlib.crc32(exercise.name.encode()))
        self.count = 0

    # verdicts
    def fail(self, words: str, key: str = "values") -> None:
        raise CheckFailed(f"{self.name}: {words}", self.name, key)

    def mistake(self, key: str, **fields: Any) -> None:
        m = self.exercise.mistake(key)
        raise CheckFailed(f"{self.name}: {m.message.format(**fields)}", self.name, key)

    def passed(self, n: int = 1) -> None:
        self.count += n

    # calling
    def call(self, *args: Any, allow_none: bool = False) -> Any:
        """Run the learner's function on copies of ``args``; check it left them alone."""
        copies = copy.deepcopy(args)
        before = [_snapshot(a) for a in copies]
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = self.fn(*copies)
        except NotImplementedError as e:
            frame = _learner_frame(e.__traceback__)
            where = ""
            own = getattr(self.fn, "__name__", None)
            if frame is not None and own and frame.name not in (own, "<module>"):
                where = f" (NotImplementedError in {frame.name})"
            raise CheckFailed(
                f"{self.name}: not implemented yet{where}", self.name, "not_implemented"
            ) from None
        except CheckFailed:
            raise
        except Exception as e:  # the learner's code failed: say so in one line
            raise CheckFailed(self._exception_words(e), self.name, "exception") from e
        if not allow_none and (result is None or result is Ellipsis):
            if result is Ellipsis or _is_stub(self.fn):
                self.fail("not implemented yet", "not_implemented")
            self.fail(
                "not implemented yet, or the return statement is missing (it returned None)",
                "not_implemented",
            )
        if isinstance(result, tuple | list) and result and all(
            r is None or r is Ellipsis for r in result
        ):
            self.fail("not implemented yet (it returned only None)", "not_implemented")
        self._check_untouched(copies, before)
        return result

    def _check_untouched(self, copies: tuple, before: list) -> None:
        ex = self.exercise
        for i, (arg, snap) in enumerate(zip(copies, before, strict=True)):
            name = ex.arg_names[i] if i < len(ex.arg_names) else f"argument {i + 1}"
            if name in ex.may_modify or snap is None:
                continue
            if not _same(_snapshot(arg), snap):
                if name in ex.modified_mistakes:
                    self.mistake(ex.modified_mistakes[name])
                self.fail(
                    f"changed its input {name} in place; compute new arrays instead "
                    f"(e.g. x = x * 2, not x *= 2 or x[...] = ...) so the caller's {name} "
                    "stays as it was",
                    "modified_input",
                )

    def _exception_words(self, e: Exception) -> str:
        words = f"{self.name}: your function raised {type(e).__name__}: {e}"
        frame = _learner_frame(e.__traceback__)
        if frame is not None:
            line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
            words += f" (line {frame.lineno} of {frame.name}: {line})" if line else ""
        elif isinstance(e, TypeError) and len(traceback.extract_tb(e.__traceback__)) <= 1:
            words += f" (expected signature: {self.exercise.signature})"
        return words


# -- exercises ----------------------------------------------------------------------------


@dataclass
class Exercise:
    """One graded exercise: what the learner writes, how it is checked, what it diagnoses.

    Value exercises give ``cases``, ``reference`` and ``unpack``; property exercises give a
    ``procedure(runner)``. Exercises whose convention differs between notebook versions
    (``relu_backward(dA, Z)`` or ``(dA, A)``) give ``flavours`` and ``choose(fn, options)``.
    """

    name: str
    signature: str
    notebooks: tuple[int, ...]
    summary: str
    checks: str
    mistakes: list[Mistake] = field(default_factory=list)
    cases: Callable[[np.random.Generator], list[Case]] | None = None
    reference: Callable[..., Any] | None = None
    unpack: Callable[[Any], dict] = field(default_factory=lambda: tuple_of("output"))
    procedure: Callable[[Runner], None] | None = None
    may_modify: frozenset[str] = frozenset()
    modified_mistakes: dict[str, str] = field(default_factory=dict)
    flavours: dict[str, Exercise] = field(default_factory=dict)
    choose: Callable[[Callable, dict], str] | None = None
    options: dict[str, tuple] = field(default_factory=dict)  # name -> allowed values

    @property
    def arg_names(self) -> list[str]:
        inside = self.signature[self.signature.index("(") + 1 : self.signature.rindex(")")]
        return [a.split("=")[0].strip() for a in inside.split(",") if a.strip()]

    def mistake(self, key: str) -> Mistake:
        for m in self.mistakes:
            if m.key == key:
                return m
        raise KeyError(f"{self.name} has no mistake {key!r}")

    def catalogue(self) -> list[Mistake]:
        """Every mistake this exercise recognises (over all flavours, each key once)."""
        seen: dict[str, Mistake] = {m.key: m for m in self.mistakes}
        for flavour in self.flavours.values():
            for m in flavour.mistakes:
                seen.setdefault(m.key, m)
        return list(seen.values())

    def run(self, fn: Callable, **options: Any) -> int:
        """Check ``fn``; return the number of checks passed, or raise CheckFailed."""
        unknown = set(options) - set(self.options)
        if unknown:
            known = ", ".join(f"{k}={v!r}" for k, v in self.options.items()) or "none"
            raise TypeError(f"check.{self.name}: unknown option(s) {sorted(unknown)}; "
                            f"options: {known}")
        for key, value in options.items():
            if value not in self.options[key]:
                raise ValueError(f"check.{self.name}: {key} must be one of "
                                 f"{', '.join(map(repr, self.options[key]))}, got {value!r}")
        if self.flavours:
            return self.flavours[self.choose(fn, options)].run(fn)
        runner = Runner(self, fn)
        if self.procedure is not None:
            self.procedure(runner)
        else:
            for case in self.cases(runner.rng):
                self._run_case(runner, case)
                runner.passed()
        return runner.count

    def _run_case(self, runner: Runner, case: Case) -> None:
        got_raw = runner.call(*case.args)
        if case.expected is not None:
            expected = self.unpack(case.expected)
        else:
            expected = self.unpack(self.reference(*copy.deepcopy(case.args)))
        try:
            got = self.unpack(got_raw)
        except StructureError as e:
            runner.fail(str(e), "structure")
        first = next(
            (p for p in expected if p not in got or not close(got[p], expected[p], case.rtol)),
            None,
        )
        if first is None and got.keys() == expected.keys():
            return
        if first is None:  # everything expected is right, but there is more
            extra = [p for p in got if p not in expected]
            runner.fail(f"returned more than expected: {', '.join(extra)}", "structure")
        info = dict(case.info, part=first)
        for m in self.mistakes:
            if self._matches(m, case, got, expected, first):
                raise CheckFailed(f"{self.name}: {m.message.format(**info)}", self.name, m.key)
        if first not in got:
            missing = [p for p in expected if p not in got]
            runner.fail(f"returned {len(got)} values where {len(expected)} were expected "
                        f"(missing: {', '.join(missing)})", "structure")
        key, words = describe_difference(first, got[first], expected[first], case.rtol)
        suffix = f" ({case.label})" if case.label and key != "not_implemented" else ""
        runner.fail(words + suffix, key)

    def _matches(self, m: Mistake, case: Case, got: dict, expected: dict, first: str) -> bool:
        if m.test is not None:
            with np.errstate(all="ignore"):
                return bool(m.test(got, expected, case))
        if m.variant is None:
            return False
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                v = m.variant(*copy.deepcopy(case.args))
            parts = v if isinstance(v, Parts) or v is None else self.unpack(v)
        except Exception:
            if STRICT_VARIANTS:
                raise
            return False
        if v is None or first not in parts or first not in got:
            return False  # (a variant of None: the mistake cannot happen on these inputs)
        if m.first_wrong_only:
            return close(got[first], parts[first], case.rtol)
        return all(p in got and close(got[p], parts[p], case.rtol) for p in parts)


#: Raise when a mistake's variant itself fails (the tests turn this on to catch our bugs).
STRICT_VARIANTS = False


# -- the registry, the check call and the tally --------------------------------------------

REGISTRY: dict[str, Exercise] = {}

#: the latest verdict of each exercise checked in this kernel (True = passed)
RESULTS: dict[str, bool] = {}


def register(exercise: Exercise) -> Exercise:
    """Make an exercise known to ``check`` under its name (names are unique)."""
    if exercise.name in REGISTRY:
        raise ValueError(f"exercise {exercise.name!r} is registered twice")
    REGISTRY[exercise.name] = exercise
    return exercise


def run_check(name: str, fn: Callable, **options: Any) -> None:
    """Check ``fn`` as exercise ``name``: print one line or raise :class:`CheckFailed`."""
    exercise = REGISTRY.get(name)
    if exercise is None:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"no exercise named {name!r}; the exercises are: {known}")
    if not callable(fn):
        RESULTS[name] = False
        raise CheckFailed(
            f"{name}: check.{name} takes your function itself, e.g. check.{name}({name}), "
            f"got {_kind(fn)}",
            name,
            "structure",
        )
    try:
        n = exercise.run(fn, **options)
    except CheckFailed:
        RESULTS[name] = False
        raise
    RESULTS[name] = True
    print(f"{name}: all {n} checks passed")


def _notebook_number(notebook: int | str) -> int:
    try:
        return int(str(notebook).split("-")[0])
    except ValueError:
        raise ValueError(
            f"notebook must be a number such as 1 or '01-logistic-regression', got {notebook!r}"
        ) from None


#: notebook -> its exercises in the order it asks them, for a notebook that also asks
#: exercises of an earlier one (registration order puts those first)
NOTEBOOK_ORDER: dict[int, tuple[str, ...]] = {}


def set_order(notebook: int, names: Sequence[str]) -> None:
    """Say in which order notebook ``notebook`` asks its exercises (``score`` and
    ``exercises`` list them so); ``names`` must be exactly the notebook's exercises."""
    NOTEBOOK_ORDER[notebook] = tuple(names)


def exercises(notebook: int | str | None = None) -> list[str]:
    """The names of the exercises (of one notebook, in the notebook's order)."""
    ordered = sorted(REGISTRY, key=lambda name: REGISTRY[name].notebooks[0])  # stable
    if notebook is None:
        return ordered
    n = _notebook_number(notebook)
    names = [name for name in ordered if n in REGISTRY[name].notebooks]
    order = NOTEBOOK_ORDER.get(n)
    if order is None:
        return names
    if sorted(order) != sorted(names):
        raise ValueError(f"the order given for notebook {n} ({', '.join(order)}) does not hold "
                         f"exactly its exercises ({', '.join(names)})")
    return list(order)


def score_line(notebook: int | str | None = None) -> str:
    """``passed k of n exercises`` — over a notebook's exercises, or those checked so far."""
    names = exercises(notebook) if notebook is not None else list(RESULTS)
    passed = [n for n in names if RESULTS.get(n)]
    line = f"passed {len(passed)} of {len(names)} exercises"
    failed = [n for n in names if RESULTS.get(n) is False]
    unchecked = [n for n in names if n not in RESULTS]
    if failed:
        line += f"; not yet passing: {', '.join(failed)}"
    if unchecked:
        line += f"; not checked: {', '.join(unchecked)}"
    return line


def score(notebook: int | str | None = None) -> None:
    """Print the score line. Each exercise counts once, with its latest result.

    ``score()`` counts the exercises checked in this kernel; ``score(3)`` (or
    ``score("03-deep-network-step-by-step")``) counts every exercise of notebook 3, so
    the ones not run yet count as not passed.
    """
    print(score_line(notebook))


def reset() -> None:
    """Forget every result of this kernel (a fresh score)."""
    RESULTS.clear()
