"""The training benchmark compares like with like (no timings are asserted here)."""

import numpy as np
import pytest

from benchmarks.training import dense_matmuls, main, reference_train
from dlcore.layers import Dense
from dlcore.model import Sequential
from dlcore.optim import GradientDescent


def test_reference_implementation_takes_the_same_steps_as_dlcore():
    dims, seed, steps, lr = (6, 4, 3, 1), 5, 30, 0.1
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 11)), rng.integers(0, 2, (1, 11))
    params = reference_train(X, Y, dims, steps, lr, seed)
    g = np.random.default_rng(seed)
    model = Sequential(
        [
            Dense(dims[i], dims[i + 1], "relu" if i < 2 else "sigmoid", "xavier", g, np.float64)
            for i in range(3)
        ]
    )
    model.fit(X, Y, epochs=steps, optimizer=GradientDescent(lr))
    for i, layer in enumerate(model.layers, start=1):
        np.testing.assert_allclose(layer.params["W"], params[f"W{i}"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.params["b"], params[f"b{i}"], rtol=1e-9, atol=1e-12)


def test_flop_count_of_one_cat_step():
    matmuls = dense_matmuls((12288, 20, 7, 5, 1), 209)
    assert [what for what, _, _ in matmuls].count("dA_prev") == 3  # none for the input layer
    flops = sum(2 * a * k * b for _, (a, k), (_, b) in matmuls)
    assert flops == 2 * 209 * (2 * 12288 * 20 + 3 * (20 * 7 + 7 * 5 + 5 * 1))


def test_unknown_case_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--cases", "gpu"])
    assert "unknown cases ['gpu']" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--progress", "--no-progress"])
def test_progress_can_be_forced_on_or_off(capsys, flag):
    with pytest.raises(SystemExit):
        main([flag, "--cases", "gpu"])
    assert "unknown cases ['gpu']" in capsys.readouterr().err  # the flag itself was accepted
