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


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def test_show_images_titles_every_panel_in_rows_of_ncols():
    images = np.random.default_rng(0).random((5, 8, 8))
    fig = plots.show_images(images, titles=list("abcde"), suptitle="five", ncols=3)
    panels = image_axes(fig)
    assert [ax.get_title() for ax in panels] == list("abcde")
    rows = [round(ax.get_position().y0, 6) for ax in panels]
    columns = [round(ax.get_position().x0, 6) for ax in panels]
    assert rows[0] == rows[1] == rows[2] > rows[3] == rows[4]  # 3 in the first row, then 2
    assert columns[0] < columns[1] < columns[2] and columns[3:] == columns[:2]
    assert fig._suptitle.get_text() == "five"


def test_show_images_pictures_keep_their_own_scale_and_get_no_colour_bar():
    dim, bright = np.full((4, 4), 10.0), np.full((4, 4), 200.0)
    dim[0, 0], bright[0, 0] = 0.0, 100.0
    fig = plots.show_images([dim, bright])
    assert [ax.images[0].get_clim() for ax in image_axes(fig)] == [(0.0, 10.0), (100.0, 200.0)]
    assert len(fig.axes) == 2  # no colour bar


def test_show_images_symmetric_panels_share_one_scale_centred_on_zero_with_a_colour_bar():
    small, large = np.array([[-1.0, 0.5]]), np.array([[0.25, 3.0]])
    fig = plots.show_images([small, large], symmetric=True, colorbar_label="weight")
    panels = image_axes(fig)
    assert [ax.images[0].get_clim() for ax in panels] == [(-3.0, 3.0), (-3.0, 3.0)]
    assert all(ax.images[0].get_cmap().name == "RdBu_r" for ax in panels)
    (bar,) = [ax for ax in fig.axes if ax not in panels]
    assert bar.get_ylabel() == "weight"
    assert bar.get_ylim() == (-3.0, 3.0)


def test_show_images_shared_scale_spans_all_panels():
    maps = [np.array([[0.0, 1.0]]), np.array([[0.5, 4.0]])]
    fig = plots.show_images(maps, shared=True, colorbar_label="activation")
    assert [ax.images[0].get_clim() for ax in image_axes(fig)] == [(0.0, 4.0), (0.0, 4.0)]
    assert fig.axes[-1].get_ylabel() == "activation"


def test_show_images_shared_scale_leaves_rgb_pictures_alone():
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    fig = plots.show_images([rgb, np.array([[-2.0, 1.0]])], symmetric=True)
    rgb_panel, grey_panel = image_axes(fig)
    assert rgb_panel.images[0].get_array().shape == (4, 4, 3)
    assert grey_panel.images[0].get_clim() == (-2.0, 2.0)


def test_show_images_rejects_mismatched_titles():
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        plots.show_images(np.zeros((2, 4, 4)), titles=["one"])


def test_plot_curves_labels_axes_and_draws_each_series():
    fig = plots.plot_curves({"a": [3, 2, 1], "b": [1, 1, 1]}, title="cost")
    ax = fig.axes[0]
    assert ax.get_title() == "cost" and ax.get_xlabel() and ax.get_ylabel()
    assert [line.get_label() for line in ax.lines] == ["a", "b"]


def test_plot_curves_counts_from_start_with_whole_number_ticks():
    fig = plots.plot_curves({"dev accuracy": [0.90, 0.93, 0.94]}, title="per epoch", start=1)
    ax = fig.axes[0]
    assert ax.lines[0].get_xdata().tolist() == [1, 2, 3]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


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
