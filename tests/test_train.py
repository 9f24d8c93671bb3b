"""python -m dlcore.train: writes the model files, prints the metrics, shows progress."""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dlcore import recipes
from dlcore.io import load_model
from dlcore.layers import Dense
from dlcore.model import Sequential
from dlcore.train import main


@pytest.fixture
def tiny_recipe(monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, "tiny", None)  # removed again after the test

    @recipes.register_recipe("tiny", model_name="tiny-model")
    def train_tiny(seed=None, progress=False):
        """A two-layer toy recipe."""
        train_tiny.progress = progress
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((3, 40))
        Y = (X[:1] > 0).astype(float)
        model = Sequential([Dense(3, 4, rng=rng), Dense(4, 1, "sigmoid", rng=rng)])
        history = model.fit(X, Y, epochs=20, progress=progress)
        accuracy = model.evaluate(X, Y)["accuracy"]
        metrics = {"train_accuracy": accuracy, "test_accuracy": accuracy}
        return recipes.RecipeResult(model, metrics, history, 0.01, {"classes": ["no", "yes"]})

    return train_tiny


def test_cli_trains_saves_and_prints(tiny_recipe, tmp_path, capsys):
    assert main(["tiny", "--out", str(tmp_path), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "train_accuracy: " in out and "test_accuracy: " in out and "tiny-model.npz" in out
    card = json.loads((tmp_path / "tiny-model.json").read_text())
    assert card["metrics"]["train_accuracy"] >= 0 and card["classes"] == ["no", "yes"]
    model = load_model(tmp_path / "tiny-model.npz")
    assert model.predict(np.zeros((3, 2))).shape == (2,)


@pytest.mark.parametrize(
    ("flags", "passed", "bar"),
    [([], None, False), (["--progress"], True, True), (["--no-progress"], False, False)],
)
def test_cli_progress_bar(tiny_recipe, tmp_path, capsys, flags, passed, bar):
    # By default the recipe gets progress=None: a bar only when stderr is a terminal, which
    # pytest's captured stderr is not.
    assert main(["tiny", "--out", str(tmp_path), *flags]) == 0
    out, err = capsys.readouterr()
    assert tiny_recipe.progress is passed
    assert ("training: 100%" in err and "20/20" in err) is bar, err
    assert "training:" not in out  # stdout carries only the metrics and the paths


TINY_RECIPE_RUN = textwrap.dedent("""
    import sys
    import numpy as np
    from dlcore import recipes
    from dlcore.layers import Dense
    from dlcore.model import Sequential
    from dlcore.train import main

    def train_tiny(seed=None, progress=False):
        X = np.random.default_rng(0).standard_normal((3, 40))
        model = Sequential([Dense(3, 1, "sigmoid", rng=0)])
        history = model.fit(X, (X[:1] > 0).astype(float), epochs=20, progress=progress)
        return recipes.RecipeResult(model, {}, history, 0.0, {"task": "cat"})

    recipes.register_recipe("tiny")(train_tiny)
    sys.exit(main(["tiny", "--out", sys.argv[1]]))
""")


def test_cli_shows_progress_on_a_terminal_by_default(tmp_path):
    controller, terminal = pty.openpty()
    # 24 rows x 80 columns (a new pseudo-terminal is 0 x 0: tqdm would fit its bar into 0)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        result = subprocess.run(
            [sys.executable, "-c", TINY_RECIPE_RUN, str(tmp_path)],
            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, stderr=terminal,
            text=True, timeout=120,
        )
    finally:
        os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal side is closed and everything was read
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert result.returncode == 0, seen.decode(errors="replace")
    assert b"training: 100%" in seen and b"20/20" in seen
    assert "wrote" in result.stdout and "training:" not in result.stdout


def test_cli_rejects_unknown_recipes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["dogs"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'dogs'" in capsys.readouterr().err
