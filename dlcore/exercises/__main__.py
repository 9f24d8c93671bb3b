"""``python -m dlcore.exercises``: print the catalogue of exercises as Markdown.

docs/exercises.md is this output; a test keeps the two equal, so the page never drifts
from the checks.
"""

from __future__ import annotations

import re

from dlcore.exercises import exercises
from dlcore.exercises.engine import REGISTRY, Exercise

NOTEBOOKS = {
    1: "01 — logistic regression",
    2: "02 — one hidden layer",
    3: "03 — a deep network step by step",
    5: "05 — initialisation, regularisation, gradient checking",
    6: "06 — optimisation",
    7: "07 — softmax and MNIST",
    8: "08 — convolutions from scratch",
}

INTRO = """\
# Exercises and their checks

The course's exercise edition asks the learner to write the core functions of each notebook;
right after each function a test cell runs its check:

```python
from dlcore.exercises import check, score

check.sigmoid(sigmoid)          # or: check("sigmoid", sigmoid)
# sigmoid: all 5 checks passed
...
score(1)                        # at the end of the notebook
# passed 5 of 5 exercises
```

A check runs the learner's function on several inputs it chooses (odd sizes, one example,
float32 and float64) and compares the answer with dlcore's own implementation. It prints one
line when everything matches. Otherwise it raises `CheckFailed` (an `AssertionError`, so
nbgrader's validate and pytest count it) with **one line** that names what is wrong:

- a mistake of the exercise's catalogue below, recognised by what the wrong answer *is* — the
  answer a known wrong variant gives on the same inputs, a ratio, a sign, a transpose, a
  statistic of random draws — never by reading the learner's code;
- otherwise the largest wrong entry (where, the value given, the value expected), a constant
  factor (`dW is 7 times the expected value`), or a wrong shape (expected vs got);
- `<name>: not implemented yet` for a stub (raises `NotImplementedError`, returns `None` or
  `...`);
- for an exception in the learner's code: its type, message and the learner's line.

In a notebook the learner sees only that line: `CheckFailed` renders itself as one line in
IPython (`_render_traceback_`), with or without `%xmode Minimal`.

`score()` prints `passed k of n exercises` over the exercises checked in this kernel, each
counted once with its latest result; `score(3)` counts every exercise of notebook 3, so
those not run yet count as not passed.

**Conventions.** Dense layers take examples as columns, `X: (n_x, m)`,
`W[l]: (n[l], n[l-1])`, `b[l]: (n[l], 1)`. The convolution exercises use dlcore's image
layout, `(m, C, H, W)`, filters `(C, C_prev, f, f)` and biases `(C,)`, so they compare with
`dlcore.Conv2D` without conversion. Randomness (initialisation, dropout masks, mini-batch
shuffles) is checked on properties — shapes, scale, keep rate, pairing, and that a seed or
`rng` reproduces the draws — not on one particular sequence of draws.

**Inputs.** Every check hands the learner copies of its inputs. A function that changes an
input in place fails (`changed its input dA in place`), except where the exercise says it
may: the update rules (`update`, `update_params`, `momentum_update`, `rmsprop_update`,
`adam_update`, and `w` in `optimize`) may update their parameters and state in place, as
dlcore's optimisers do. `gradient_check` nudges the model's parameters and must put them back.

**Notebook versions.** Where notebook versions differ, one check serves both: `relu_backward`
and `sigmoid_backward` read whether they get `Z` or `A` from the name of the second
parameter (or `at="A"`); `optimize` takes either `(w, b, X, Y, ...)` or
`(w, b, cost_and_gradients, ...)`, told apart by the number of parameters; `model_forward`
and `model_backward` cache `(A_prev, A)` by default, `cache="Z"` for `(A_prev, Z)`;
`init_params_deep` expects He's scale, `init="xavier"` for `sqrt(1 / n[l-1])`.

**Adding an exercise.** The checks live in `dlcore/exercises/`, one module per notebook, on
the engine in `engine.py`. An exercise is an `Exercise(name, signature, notebooks, summary,
checks, mistakes, cases, reference, unpack)` passed to `register`: `cases` draws the inputs,
`reference` is dlcore's answer, and each `Mistake(key, message, variant)` gives what a
function with that mistake returns on the same inputs (or a `test` on the wrong output).
Exercises with random answers give a `procedure` that checks properties instead. Every
catalogued mistake needs a mutant — a wrong function written as a learner would — in
`tests/test_exercises_<module>.py` (a test fails otherwise), and this page is regenerated
with `python -m dlcore.exercises > docs/exercises.md` (a test compares them).
"""


def _words(message: str) -> str:
    """A mistake message for the page: placeholders shown as <name>."""
    return re.sub(r"\{(\w+)(![rs])?\}", r"<\1>", message)


def _flavours(ex: Exercise) -> list[tuple[str, Exercise]]:
    if ex.flavours:
        return [(key, f) for key, f in ex.flavours.items()]
    return [("", ex)]


def markdown() -> str:
    lines = [INTRO, "## The exercises", "",
             "| notebook | exercise | signature | mistakes recognised |", "|---|---|---|---|"]
    names = exercises()
    for name in names:
        ex = REGISTRY[name]
        nbs = ", ".join(f"{n:02d}" for n in ex.notebooks)
        sigs = " or ".join(dict.fromkeys(f"`{f.signature}`" for _, f in _flavours(ex)))
        lines.append(f"| {nbs} | [{name}](#{name}) | {sigs} | {len(ex.catalogue())} |")
    total = sum(len(REGISTRY[n].catalogue()) for n in names)
    lines += ["", f"{len(names)} exercises, {total} catalogued mistakes.", ""]
    shown: set[str] = set()
    for number, title in NOTEBOOKS.items():
        lines += [f"## Notebook {title}", ""]
        for name in exercises(number):
            ex = REGISTRY[name]
            if name in shown:
                lines += [f"- `{name}`: see notebook {ex.notebooks[0]:02d}.", ""]
                continue
            shown.add(name)
            lines += [f"### {name}", ""]
            for key, flavour in _flavours(ex):
                heading = f"`{flavour.signature}`"
                if key:
                    heading += f" — version `{key}`"
                lines += [f"{heading}: {flavour.summary}", "",
                          f"*Check:* {flavour.checks}", ""]
                if flavour.may_modify:
                    names_ = ", ".join(f"`{n}`" for n in sorted(flavour.may_modify))
                    lines += [f"*In place:* may update {names_} in place.", ""]
                lines.append(f"*Mistakes recognised ({len(flavour.mistakes)}):*")
                lines.append("")
                for m in flavour.mistakes:
                    lines.append(f"- `{m.key}`: {_words(m.message)}")
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
