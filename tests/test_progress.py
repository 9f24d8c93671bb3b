"""dlcore.progress: a text bar on stderr; True shows it, False hides it, None asks the terminal."""

import io
import sys

import numpy as np
import pytest
from helpers import Terminal

from dlcore.layers import Dense
from dlcore.model import Sequential
from dlcore.progress import progress_bar


@pytest.mark.parametrize(
    ("stream", "progress", "shown"),
    [(io.StringIO, True, True), (io.StringIO, False, False), (io.StringIO, None, False),
     (Terminal, None, True), (Terminal, False, False)],
)
def test_progress_true_shows_false_hides_none_asks_the_terminal(monkeypatch, stream, progress,
                                                                 shown):
    err = stream()
    monkeypatch.setattr(sys, "stderr", err)
    seen = list(progress_bar(range(4), progress=progress, desc="working", unit="step"))
    assert seen == [0, 1, 2, 3]  # a hidden bar still iterates
    text = err.getvalue()
    assert ("working: 100%" in text and "4/4" in text and "step/s" in text) is shown, text


def test_fit_draws_a_finished_text_bar_on_stderr(capsys):
    X = np.random.default_rng(0).standard_normal((3, 10))
    Y = (X[:1] > 0).astype(float)
    model = Sequential([Dense(3, 1, activation="sigmoid", rng=0)])
    model.fit(X, Y, epochs=5, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    final = err.rsplit("\r", 1)[-1]  # the text bar redraws itself with carriage returns
    assert final.startswith("training: 100%") and "5/5" in final and "cost=" in final
    model.fit(X, Y, epochs=5, progress=False)
    model.fit(X, Y, epochs=5, progress=None)  # pytest's captured stderr is no terminal
    assert capsys.readouterr() == ("", "")
