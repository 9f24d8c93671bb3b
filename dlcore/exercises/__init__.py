"""Checks for the course's exercises: run the learner's function, name the mistake.

In a notebook, right after the learner's function::

    from dlcore.exercises import check
    check.sigmoid(sigmoid)          # or check("sigmoid", sigmoid)

prints ``sigmoid: all 5 checks passed``, or raises :class:`CheckFailed` with one line that
says what is wrong — the mistake it recognises ("dw is m times too large: the 1/m is
missing"), else the largest wrong entry, a wrong shape, "not implemented yet" for a stub,
or the exception the learner's code raised. At the end of a notebook, ``score()`` prints
``passed k of n exercises`` (each exercise once, its latest result; ``score(3)`` counts
every exercise of notebook 3).

``docs/exercises.md`` lists every exercise, its signature, what its check runs and its
catalogue of mistakes; ``python -m dlcore.exercises`` prints that page.
"""

from __future__ import annotations

from typing import Any

from dlcore.exercises import (  # noqa: F401  (importing registers the exercises)
    convolutions,
    deep_network,
    logistic_regression,
    one_hidden_layer,
    optimisation,
    regularisation,
    softmax,
)
from dlcore.exercises.engine import (
    REGISTRY,
    RESULTS,
    CheckFailed,
    exercises,
    reset,
    run_check,
    score,
    score_line,
)


class _Check:
    """``check.NAME(fn)`` or ``check("NAME", fn)``: check the learner's function ``fn``."""

    def __call__(self, name: str, fn: Any, **options: Any) -> None:
        run_check(name, fn, **options)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        exercise = REGISTRY.get(name)
        if exercise is None:
            raise AttributeError(
                f"no exercise named {name!r}; the exercises are: {', '.join(REGISTRY)}"
            )

        def run(fn: Any, **options: Any) -> None:
            run_check(name, fn, **options)

        run.__name__ = run.__qualname__ = name
        run.__doc__ = f"Check {exercise.signature}: {exercise.summary}\n\n{exercise.checks}"
        return run

    def __dir__(self) -> list[str]:
        return sorted(REGISTRY)

    def __repr__(self) -> str:
        return f"<exercise checks: {', '.join(REGISTRY)}>"


check = _Check()

__all__ = [
    "CheckFailed",
    "RESULTS",
    "check",
    "exercises",
    "reset",
    "score",
    "score_line",
]
