"""The notebooks' plotting helpers draw labelled figures and reject malformed input."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from dlcore import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_show_images_titles_every_panel_and_hides_spare_axes():
    images = np.random.default_rng(0).random((5, 8, 8))
    fig = plots.show_images(images, titles=list("abcde"), suptitle="five", ncols=3)
    titled = [ax.get_title() for ax in fig.axes if ax.images]
    assert titled == list("abcde")
    assert len(fig.axes) == 6 and not fig.axes[5].images  # 2 rows of 3, the last one empty
    assert fig._suptitle.get_text() == "five"


def test_show_images_symmetric_scale_is_centred_on_zero():
    fig = plots.show_images(np.array([[[-1.0, 3.0]]]), symmetric=True)
    assert fig.axes[0].images[0].get_clim() == (-3.0, 3.0)


def test_show_images_rejects_mismatched_titles():
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        plots.show_images(np.zeros((2, 4, 4)), titles=["one"])


def test_plot_curves_labels_axes_and_draws_each_series():
    fig = plots.plot_curves({"a": [3, 2, 1], "b": [1, 1, 1]}, title="cost")
    ax = fig.axes[0]
    assert ax.get_title() == "cost" and ax.get_xlabel() and ax.get_ylabel()
    assert [line.get_label() for line in ax.lines] == ["a", "b"]


def test_plot_decision_boundary_labels_axes_and_needs_points_as_columns():
    X = np.random.default_rng(1).standard_normal((2, 30))
    y = (X[0] > 0).astype(int)
    fig = plots.plot_decision_boundary(lambda G: (G[0] > 0).astype(int), X, y, title="half")
    ax = fig.axes[0]
    assert ax.get_title() == "half" and ax.get_xlabel() and ax.get_ylabel()
    with pytest.raises(ValueError, match=r"\(2, m\)"):
        plots.plot_decision_boundary(None, X.T, y, title="rows")


def test_plot_decision_boundaries_one_panel_per_classifier():
    X = np.random.default_rng(2).standard_normal((2, 20))
    y = (X[1] > 0).astype(int)
    predicts = {f"net {k}": (lambda G: (G[1] > 0).astype(int)) for k in range(3)}
    fig = plots.plot_decision_boundaries(predicts, X, y, suptitle="grid", ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["net 0", "net 1", "net 2"]
