"""Mutation tests of notebook 07's exercise checks (dlcore/exercises/softmax.py)."""

from __future__ import annotations

import numpy as np
from exercise_helpers import Spec, failure, mutation_tests


def softmax(Z):
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def one_hot(labels, C):
    Y = np.zeros((C, labels.size))
    Y[labels, np.arange(labels.size)] = 1
    return Y


def cross_entropy(A, Y):
    return -np.sum(Y * np.log(A)) / Y.shape[1]


SPECS = [
    Spec("softmax", softmax, {
        "no_shift": lambda Z: np.exp(Z) / np.sum(np.exp(Z), axis=0, keepdims=True),
        "global_max": lambda Z: np.exp(Z - np.max(Z)) / np.exp(Z - np.max(Z)).sum(axis=0),
        "rows": lambda Z: np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True),
        "whole": lambda Z: np.exp(Z - Z.max()) / np.exp(Z - Z.max()).sum(),
        "row_max": lambda Z: np.exp(Z - Z.max(axis=1, keepdims=True))
        / np.exp(Z - Z.max(axis=1, keepdims=True)).sum(axis=0),
        "no_exp": lambda Z: Z / Z.sum(axis=0, keepdims=True),
    }, rewritten=[
        # overflow written differently: a loop over columns, no shift
        ("no_shift", lambda Z: np.stack([np.exp(c) / sum(np.exp(c)) for c in Z.T], axis=1)),
        ("rows", lambda Z: softmax(Z.T).T),
        ("global_max", lambda Z: np.exp(Z - np.amax(Z)) / np.sum(np.exp(Z - np.amax(Z)), 0)),
    ]),
    Spec("one_hot", one_hot, {
        "transposed": lambda labels, C: one_hot(labels, C).T,
        "shifted": lambda labels, C: one_hot(labels - 1, C),
        "whole_rows": lambda labels, C: np.isin(np.arange(C), labels)[:, None]
        * np.ones((1, labels.size)),
        "labels_itself": lambda labels, C: labels[None, :],
    }, rewritten=[("transposed", lambda labels, C: np.eye(C)[labels])]),
    Spec("cross_entropy", cross_entropy, {
        "sign": lambda A, Y: np.sum(Y * np.log(A)) / Y.shape[1],
        "no_mean": lambda A, Y: -np.sum(Y * np.log(A)),
        "mean_over_classes": lambda A, Y: -np.mean(Y * np.log(A)),
        "no_Y": lambda A, Y: -np.sum(np.log(A)) / Y.shape[1],
        "binary": lambda A, Y: -np.mean(np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A), axis=0)),
        "log10": lambda A, Y: -np.sum(Y * np.log10(A)) / Y.shape[1],
        "per_example": lambda A, Y: -np.sum(Y * np.log(A), axis=0),
    }, rewritten=[
        ("no_mean", lambda A, Y: -np.log(A[Y == 1]).sum()),
        ("mean_over_classes", lambda A, Y: -np.sum(Y * np.log(A)) / Y.size),
    ]),
    Spec("output_gradient", lambda A, Y: A - Y, {
        "sign": lambda A, Y: Y - A,
        "mean": lambda A, Y: (A - Y) / Y.shape[1],
        "dA": lambda A, Y: -Y / A,
        "softmax_again": lambda A, Y: softmax(A) - Y,
    }),
]

(test_solution_passes, test_stub_is_not_implemented_yet, test_catalogued_mistake_is_recognised,
 test_mistake_written_differently_is_recognised,
 test_every_catalogued_mistake_has_a_mutant) = mutation_tests(SPECS)


def test_a_sum_without_keepdims_over_the_rows_reports_the_broadcast_error_and_line():
    def softmax(Z):
        E = np.exp(Z)
        return E / E.sum(axis=1)

    err = failure("softmax", softmax)
    assert err.mistake == "exception"
    assert "ValueError: operands could not be broadcast" in str(err)
    assert "return E / E.sum(axis=1)" in str(err)
