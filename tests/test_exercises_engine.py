"""The exercise engine (dlcore/exercises/engine.py and the ``check`` API): what a learner
sees — one line when a check passes, one raised line when it fails, whatever the failure —
and the per-kernel tally behind ``score()``."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
from exercise_helpers import failure
from nbclient import NotebookClient

import dlcore.exercises as exercises
from dlcore.exercises import CheckFailed, check, score
from dlcore.exercises.__main__ import markdown
from dlcore.exercises.engine import REGISTRY, RESULTS, describe_difference

REPO = Path(__file__).resolve().parents[1]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(autouse=True)
def fresh_tally():
    exercises.reset()
    yield
    exercises.reset()


def test_a_pass_prints_one_line(capsys):
    result = check.sigmoid(sigmoid)
    assert result is None  # nothing else for the notebook to display
    assert capsys.readouterr().out == "sigmoid: all 5 checks passed\n"


def test_check_by_name_is_the_same_check(capsys):
    check("sigmoid", sigmoid)
    assert capsys.readouterr().out == "sigmoid: all 5 checks passed\n"


def test_a_failure_raises_an_assertion_error_whose_message_is_one_line():
    with pytest.raises(AssertionError) as info:
        check.sigmoid(lambda z: 1 / (1 + np.exp(z)))
    err = info.value
    assert isinstance(err, CheckFailed)
    assert str(err).startswith("sigmoid: your output is σ(−z)")
    assert "\n" not in str(err)
    assert err.exercise == "sigmoid" and err.mistake == "minus_sign"


@pytest.mark.parametrize("body", [
    "raise NotImplementedError()",
    "...",
    "pass",
    "return None",
    "return ...",
    '"""Write me."""',
])
def test_stubs_are_not_implemented_yet(body):
    namespace = {}
    exec(f"def sigmoid(z):\n    {body}\n", namespace)
    err = failure("sigmoid", namespace["sigmoid"])
    assert str(err) == "sigmoid: not implemented yet"


def test_a_stub_called_by_the_learners_function_is_named():
    def linear_forward(A_prev, W, b):
        raise NotImplementedError()

    def model_forward(X, params):
        return linear_forward(X, *params[0]), []

    err = failure("model_forward", model_forward)
    assert str(err) == ("model_forward: not implemented yet "
                        "(NotImplementedError in linear_forward)")


def test_a_forgotten_return_is_named_as_well():
    def sigmoid(z):
        s = 1 / (1 + np.exp(-z))  # noqa: F841

    err = failure("sigmoid", sigmoid)
    assert str(err) == ("sigmoid: not implemented yet, or the return statement is missing "
                        "(it returned None)")


def test_a_tuple_of_nones_is_not_implemented_yet():
    err = failure("propagate", lambda w, b, X, Y: (None, None, None))
    assert err.mistake == "not_implemented"


def test_an_exception_gives_type_message_and_the_learners_line():
    def propagate(w, b, X, Y):
        A = sigmoid(w @ X + b)  # w is (n_x, 1): the product needs w.T
        return A

    err = failure("propagate", propagate)
    assert err.mistake == "exception"
    text = str(err)
    assert text.startswith("propagate: your function raised ValueError: matmul")
    assert "of propagate: A = sigmoid(w @ X + b)" in text


def test_a_wrong_signature_names_the_expected_one():
    err = failure("propagate", lambda w, b, X: None)
    assert err.mistake == "exception"
    assert "expected signature: propagate(w, b, X, Y)" in str(err)


def test_a_value_outside_the_catalogue_gets_its_largest_wrong_entry():
    def sigmoid_off(z):
        s = sigmoid(z)
        s.flat[3] += 0.25  # one entry wrong
        return s

    err = failure("sigmoid", sigmoid_off)
    assert err.mistake == "values"
    assert "output is wrong at [0, 3]: got" in str(err) and "expected" in str(err)
    assert "(1 of 15 entries differ)" in str(err)


def test_a_wrong_shape_says_expected_and_got():
    err = failure("sigmoid", lambda z: sigmoid(z).ravel())
    assert err.mistake == "shape"
    assert "output has shape (15,), expected (3, 5)" in str(err)


def test_a_constant_factor_outside_the_catalogue_is_named():
    err = failure("relu", lambda Z: 3 * np.maximum(Z, 0))
    assert err.mistake == "values" and "is 3 times the expected value" in str(err)


def test_describe_difference_names_a_flipped_sign_and_a_non_finite_value():
    e = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert "wrong sign" in describe_difference("dW", -e, e, 1e-6)[1]
    key, words = describe_difference("A", np.array([[1.0, np.nan], [3.0, 0.5]]), e, 1e-6)
    assert key == "values" and "A is nan at [0, 1] where -2 was expected" in words


def test_passing_a_result_instead_of_the_function_is_explained():
    err = failure("sigmoid", sigmoid(np.zeros(3)))
    assert "takes your function itself, e.g. check.sigmoid(sigmoid)" in str(err)


def test_unknown_names_and_options_are_errors_of_the_caller():
    with pytest.raises(AttributeError, match="no exercise named 'sigmod'"):
        check.sigmod(sigmoid)
    with pytest.raises(KeyError, match="no exercise named"):
        check("sigmod", sigmoid)
    with pytest.raises(TypeError, match="unknown option"):
        check.sigmoid(sigmoid, at="A")
    with pytest.raises(ValueError, match="cache must be one of 'A', 'Z', got 'B'"):
        check.model_forward(sigmoid, cache="B")


def test_the_check_object_lists_and_documents_the_exercises():
    assert set(dir(check)) == set(REGISTRY) and len(REGISTRY) >= 30
    assert "propagate(w, b, X, Y)" in check.propagate.__doc__
    assert exercises.exercises(8) == ["zero_pad", "conv_single_step", "conv_forward",
                                      "conv_backward", "pool_forward", "pool_backward"]


def test_an_input_changed_in_place_is_reported():
    def sigmoid_in_place(z):
        z *= -1
        np.exp(z, out=z)
        z += 1
        return 1 / z

    err = failure("sigmoid", sigmoid_in_place)
    assert err.mistake == "modified_input"
    assert "changed its input z in place" in str(err)


def test_the_score_counts_each_exercise_once_with_its_latest_result(capsys):
    with pytest.raises(CheckFailed):
        check.sigmoid(lambda z: z)
    check.relu(lambda Z: np.maximum(Z, 0))
    capsys.readouterr()
    score()
    assert capsys.readouterr().out == ("passed 1 of 2 exercises; not yet passing: sigmoid\n")
    check.sigmoid(sigmoid)
    check.sigmoid(sigmoid)
    capsys.readouterr()
    score()
    assert capsys.readouterr().out == "passed 2 of 2 exercises\n"
    assert RESULTS == {"sigmoid": True, "relu": True}


def test_the_score_of_a_notebook_counts_the_exercises_not_run_yet(capsys):
    check.sigmoid(sigmoid)
    capsys.readouterr()
    score(1)
    assert capsys.readouterr().out == (
        "passed 1 of 5 exercises; not checked: sigmoid_derivative, propagate, optimize, "
        "predict\n")
    score("01-logistic-regression")
    assert capsys.readouterr().out.startswith("passed 1 of 5 exercises")
    with pytest.raises(ValueError, match="notebook must be a number"):
        score("logistic")


def test_the_catalogue_page_is_up_to_date():
    page = markdown()
    assert (REPO / "docs" / "exercises.md").read_text() == page, (
        "docs/exercises.md is stale: python -m dlcore.exercises > docs/exercises.md")


def test_every_exercise_has_at_least_three_mistakes_in_every_version():
    for ex in REGISTRY.values():
        for version in ex.flavours.values() or [ex]:
            assert len(version.mistakes) >= 3, ex.name
            keys = [m.key for m in version.mistakes]
            assert len(keys) == len(set(keys)), ex.name


def test_in_a_notebook_the_learner_sees_one_line(tmp_path):
    """A real kernel: a failing check stores an error whose traceback is the one line, a
    passing check and score() print one line each."""
    cells = [
        "import numpy as np\nfrom dlcore.exercises import check, score",
        "def sigmoid(z):\n    return 1 / (1 + np.exp(z))",
        "check.sigmoid(sigmoid)",
        "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))",
        "check.sigmoid(sigmoid)",
        "score(1)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    failed, passed, scored = (nb.cells[i].outputs for i in (2, 4, 5))
    assert len(failed) == 1 and failed[0].output_type == "error"
    assert failed[0].ename == "CheckFailed"
    assert len(failed[0].traceback) == 1
    assert failed[0].traceback[0].startswith("CheckFailed: sigmoid: your output is σ(−z)")
    assert [o.text for o in passed] == ["sigmoid: all 5 checks passed\n"]
    assert [o.text for o in scored] == [
        "passed 1 of 5 exercises; not checked: sigmoid_derivative, propagate, optimize, "
        "predict\n"]
