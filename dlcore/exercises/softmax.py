"""Exercises of notebook 07, softmax and MNIST: softmax, one_hot, cross_entropy and
output_gradient.

Classes are rows and examples columns: ``Z, A, Y: (C, m)``.
"""

from __future__ import annotations

import numpy as np

from dlcore import activations
from dlcore.exercises.engine import Case, Exercise, Mistake, register, tuple_of
from dlcore.exercises.references import F64
from dlcore.layout import one_hot
from dlcore.losses import CategoricalCrossEntropy


def _softmax(Z):
    return activations.softmax(np.asarray(Z, F64))


def _softmax_cases(rng) -> list[Case]:
    spread = rng.standard_normal((4, 3)) + np.array([0.0, -1500.0, 1500.0])
    return [
        Case((rng.standard_normal((4, 6)) * 2,), "Z of shape (4, 6)"),
        Case((rng.standard_normal((3, 1)),), "one example, Z of shape (3, 1)"),
        Case((rng.standard_normal((5, 7)).astype(np.float32) * 2,), "float32 Z of shape (5, 7)"),
        Case((800 + rng.standard_normal((6, 5)),), "large Z, about 800", {"large": True}),
        Case((spread,), "columns far apart: about 0, −1500 and +1500", {"apart": True}),
    ]


def _non_finite_on(flag):
    def test(got, expected, case):
        g = np.asarray(got["A"], dtype=F64) if got["A"] is not None else None
        return bool(case.info.get(flag)) and g is not None and g.shape == expected["A"].shape \
            and not np.all(np.isfinite(g))

    return test


def _normalised(E, axis):
    return E / E.sum(axis=axis, keepdims=axis is not None)


register(Exercise(
    name="softmax",
    signature="softmax(Z)",
    notebooks=(7,),
    summary="Softmax over the classes (axis 0), numerically stable: subtract each column's "
    "max, exponentiate, divide by the column's sum. Every column of the result sums to 1.",
    checks="Z of shapes (4, 6), (3, 1) and float32 (5, 7); Z around 800 (a naive exp "
    "overflows); columns around 0, −1500 and +1500 (a shift by the global max underflows); "
    "compared with dlcore.activations.softmax.",
    cases=_softmax_cases,
    reference=_softmax,
    unpack=tuple_of("A"),
    mistakes=[
        Mistake("no_shift", "it overflows for large Z (np.exp(800) is inf): subtract each "
                "column's max first, Z − Z.max(axis=0, keepdims=True); the result is the same",
                test=_non_finite_on("large")),
        Mistake("global_max", "it subtracts the max of the whole Z: columns far below that max "
                "underflow to 0 / 0; subtract each column's own max, Z.max(axis=0, "
                "keepdims=True)", test=_non_finite_on("apart")),
        Mistake("rows", "it normalises over the rows (axis=1): the classes are the rows, so "
                "each column (axis=0) must sum to 1",
                lambda Z: _normalised(np.exp(Z - Z.max(axis=1, keepdims=True)), 1)),
        Mistake("whole", "it divides by the sum of the whole matrix: each column must sum to "
                "1, so sum over axis=0", lambda Z: _normalised(np.exp(Z - Z.max()), None)),
        Mistake("row_max", "it subtracts each row's max (axis=1): subtract each column's max "
                "(axis=0), which the division cancels",
                lambda Z: _normalised(np.exp(Z - Z.max(axis=1, keepdims=True)), 0)),
        Mistake("no_exp", "it normalises Z itself: exponentiate first, "
                "exp(Z) / sum of exp(Z) over the column", lambda Z: _normalised(Z, 0)),
    ],
))


def _one_hot_cases(rng) -> list[Case]:
    cases = []
    for m, C in [(7, 4), (1, 3), (12, 10)]:
        labels = rng.integers(0, C, m)
        if m > 1:
            labels[:2] = 0, C - 1  # both ends of the range
        cases.append(Case((labels, C), f"{m} labels, C = {C}"))
    return cases


def _one_hot(labels, C):
    return one_hot(labels, C, dtype=F64)


def _whole_rows(labels, C):
    Y = np.zeros((C, len(labels)))
    Y[labels] = 1
    return Y


register(Exercise(
    name="one_hot",
    signature="one_hot(labels, C)",
    notebooks=(7,),
    summary="The one-hot matrix Y of shape (C, m): column i holds a 1 in row labels[i] and "
    "0 elsewhere (labels are integers 0 ... C − 1).",
    checks="7 labels of 4 classes (0 and 3 among them), one label, 12 labels of 10 classes; "
    "compared with the columns of the identity matrix.",
    cases=_one_hot_cases,
    reference=_one_hot,
    unpack=tuple_of("Y"),
    mistakes=[
        Mistake("transposed", "Y is (m, C): one column per example, shape (C, m)",
                lambda labels, C: _one_hot(labels, C).T),
        Mistake("shifted", "the 1s sit one row too high: label k goes to row k (rows count "
                "from 0, no − 1)", lambda labels, C: _one_hot((np.asarray(labels) - 1) % C, C)),
        Mistake("whole_rows", "whole rows are set to 1: set one entry per column, "
                "Y[labels, np.arange(m)] = 1", _whole_rows),
        Mistake("labels_itself", "these are the labels themselves, one row: one_hot turns "
                "each label into a column of C entries, (C, m)",
                lambda labels, C: np.asarray(labels, F64).reshape(1, -1)),
    ],
))


def _ce_cases(rng) -> list[Case]:
    cases = []
    for C, m, dtype in [(4, 6, F64), (3, 1, F64), (10, 9, np.float32)]:
        A = _softmax(rng.standard_normal((C, m)))
        Y = one_hot(rng.integers(0, C, m), C, dtype=F64)
        cases.append(Case((A.astype(dtype), Y.astype(dtype)), f"C = {C}, m = {m}, "
                          f"{np.dtype(dtype).name}"))
    return cases


def _ce(A, Y):
    return CategoricalCrossEntropy().loss(np.asarray(A, F64), np.asarray(Y, F64))


def _ce_sum(A, Y, log=np.log):
    A, Y = np.asarray(A, F64), np.asarray(Y, F64)
    return -np.sum(Y * log(A))


register(Exercise(
    name="cross_entropy",
    signature="cross_entropy(A, Y)",
    notebooks=(7,),
    summary="The categorical cross-entropy cost J = −(1/m) Σ_i Σ_k Y[k, i] log A[k, i] of the "
    "softmax output A (C, m) against one-hot Y (C, m): a number.",
    checks="4 classes and 6 examples, one example, 10 classes in float32; compared with "
    "dlcore.CategoricalCrossEntropy().loss.",
    cases=_ce_cases,
    reference=_ce,
    unpack=tuple_of("the cost", scalars=("the cost",)),
    mistakes=[
        Mistake("sign", "the cost has the wrong sign: J = −(1/m) Σ Y log A is positive",
                lambda A, Y: -_ce(A, Y)),
        Mistake("no_mean", "the cost is m times too large: divide the sum by m",
                lambda A, Y: _ce_sum(A, Y)),
        Mistake("mean_over_classes", "the cost is divided by C·m (a mean over every entry): "
                "divide by the m examples only", lambda A, Y: _ce_sum(A, Y) / np.size(Y)),
        Mistake("no_Y", "the cost sums log A over every class: only the true class counts, "
                "Σ Y log A", lambda A, Y: -np.sum(np.log(np.asarray(A, F64))) / Y.shape[1]),
        Mistake("binary", "this is the binary cross-entropy, Y log A + (1 − Y) log(1 − A): "
                "with a softmax over C classes it is just Σ Y log A",
                lambda A, Y: -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / Y.shape[1]),
        Mistake("log10", "the cost uses log10: cross-entropy uses the natural log, np.log",
                lambda A, Y: _ce_sum(A, Y, np.log10) / Y.shape[1]),
        Mistake("per_example", "this is one loss per example: the cost is their mean, a "
                "single number", lambda A, Y: -np.sum(Y * np.log(A), axis=0)),
    ],
))


register(Exercise(
    name="output_gradient",
    signature="output_gradient(A, Y)",
    notebooks=(7,),
    summary="dZ[L] for a softmax output with cross-entropy, per example: dZ = A − Y (C, m).",
    checks="the cases of cross_entropy; compared with "
    "dlcore.CategoricalCrossEntropy().fused_grad.",
    cases=_ce_cases,
    reference=lambda A, Y: CategoricalCrossEntropy().fused_grad(np.asarray(A, F64),
                                                                np.asarray(Y, F64)),
    unpack=tuple_of("dZ"),
    mistakes=[
        Mistake("sign", "dZ has the wrong sign: dZ = A − Y", lambda A, Y: Y - A),
        Mistake("mean", "dZ is divided by m: dZ[L] = A − Y is per example; the 1/m comes in "
                "dW and db", lambda A, Y: (A - Y) / Y.shape[1]),
        Mistake("dA", "this is dA = −Y / A, the gradient with respect to A: through the "
                "softmax it becomes dZ = A − Y", lambda A, Y: -Y / A),
        Mistake("softmax_again", "the softmax is applied to A again: A is already the "
                "softmax output, so dZ = A − Y", lambda A, Y: _softmax(A) - Y),
    ],
))
