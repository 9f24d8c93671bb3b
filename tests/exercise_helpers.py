"""Shared by the exercise tests: run a check, read its verdict, and the generic mutation
tests every exercise module gets (the solution passes, a stub is "not implemented yet",
every catalogued mistake written as a wrong function is recognised by its own key and
words, and the test's mutants cover the whole catalogue)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from dlcore.exercises import CheckFailed, engine

# A variant that fails on its own inputs is a bug in the catalogue: let it surface.
engine.STRICT_VARIANTS = True


@dataclass
class Spec:
    """One exercise (flavour) under test: its solution, its mutants by mistake key, and
    mistakes written differently from the catalogue's own variants."""

    name: str
    solution: Callable
    mutants: dict[str, Callable]
    rewritten: list[tuple[str, Callable]] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    flavour: str | None = None

    @property
    def id(self) -> str:
        return self.name + (f"[{self.flavour}]" if self.flavour else "")


def exercise_of(spec: Spec) -> engine.Exercise:
    ex = engine.REGISTRY[spec.name]
    if ex.flavours:
        key = ex.choose(spec.solution, spec.options)
        assert spec.flavour is None or key == spec.flavour, (spec.id, key)
        return ex.flavours[key]
    return ex


def failure(name: str, fn: Callable, **options) -> CheckFailed:
    """The CheckFailed a check raises for ``fn``, after checking it is one line."""
    with pytest.raises(CheckFailed) as info:
        engine.run_check(name, fn, **options)
    err = info.value
    text = str(err)
    assert "\n" not in text and text.startswith(f"{name}: "), text
    assert err._render_traceback_() == [f"CheckFailed: {text}"]
    return err


def assert_diagnosis(spec: Spec, fn: Callable, key: str) -> CheckFailed:
    err = failure(spec.name, fn, **spec.options)
    assert err.mistake == key, f"{spec.id}: expected mistake {key!r}, got {err.mistake!r}: {err}"
    words = exercise_of(spec).mistake(key).message.split("{")[0]
    assert words in str(err), (words, str(err))
    return err


def assert_passes(spec: Spec, capsys) -> None:
    capsys.readouterr()
    engine.run_check(spec.name, spec.solution, **spec.options)
    out = capsys.readouterr().out
    assert out.startswith(f"{spec.name}: all ") and out.endswith(" checks passed\n"), out
    assert out.count("\n") == 1
    assert engine.RESULTS[spec.name] is True


def raising_stub(*args):
    raise NotImplementedError()


def ellipsis_stub(*args):
    ...


def mutation_tests(specs: list[Spec]):
    """The generic tests for a module's specs, as test functions to assign in the module."""
    ids = [s.id for s in specs]
    mutant_cases = [(s, k, f) for s in specs for k, f in s.mutants.items()]
    rewritten_cases = [(s, k, f) for s in specs for k, f in s.rewritten]

    @pytest.mark.parametrize("spec", specs, ids=ids)
    def test_solution_passes(spec, capsys):
        assert_passes(spec, capsys)

    @pytest.mark.parametrize("stub", [raising_stub, ellipsis_stub], ids=["raise", "ellipsis"])
    @pytest.mark.parametrize("spec", specs, ids=ids)
    def test_stub_is_not_implemented_yet(spec, stub):
        err = failure(spec.name, stub, **spec.options)
        assert str(err) == f"{spec.name}: not implemented yet", str(err)
        assert err.mistake == "not_implemented"
        assert engine.RESULTS[spec.name] is False

    @pytest.mark.parametrize(("spec", "key", "fn"), mutant_cases,
                             ids=[f"{s.id}-{k}" for s, k, _ in mutant_cases])
    def test_catalogued_mistake_is_recognised(spec, key, fn):
        assert_diagnosis(spec, fn, key)

    @pytest.mark.parametrize(("spec", "key", "fn"), rewritten_cases,
                             ids=[f"{s.id}-{k}-{i}" for i, (s, k, _) in
                                  enumerate(rewritten_cases)])
    def test_mistake_written_differently_is_recognised(spec, key, fn):
        assert_diagnosis(spec, fn, key)

    @pytest.mark.parametrize("spec", specs, ids=ids)
    def test_every_catalogued_mistake_has_a_mutant(spec):
        catalogue = {m.key for m in exercise_of(spec).mistakes}
        assert set(spec.mutants) == catalogue
        assert len(catalogue) >= 3

    return (test_solution_passes, test_stub_is_not_implemented_yet,
            test_catalogued_mistake_is_recognised,
            test_mistake_written_differently_is_recognised,
            test_every_catalogued_mistake_has_a_mutant)
