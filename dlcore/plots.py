"""Small plotting helpers for the course notebooks (matplotlib, from the ``course`` extra).

Each helper draws one kind of picture the notebooks need more than once and returns the
matplotlib ``Figure``; every plot carries a title and labelled axes (with units where the
quantity has one). matplotlib is imported inside the functions, so ``import dlcore`` never
needs it. In a notebook, assign the result, and the inline backend shows the figure once
when the cell ends::

    from dlcore import plots
    fig = plots.plot_curves({"lr = 0.005": history["cost"]}, title="Training cost")

(Not a trailing ``;``: nbval executes cells without storing history, and IPython then
ignores the semicolon, so the figure would appear twice and fail the comparison.)

Deliberately left out: styling options. Change a figure through the returned object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "dlcore.plots needs matplotlib, part of the course extra: pip install -e '.[course]'"
        ) from e
    return plt


def show_images(
    images: np.ndarray | Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    suptitle: str = "",
    ncols: int = 8,
    size: float = 1.6,
    cmap: str = "gray",
    symmetric: bool = False,
    shared: bool = False,
    colorbar_label: str = "value",
) -> Any:
    """A grid of images, one title each: ``(n, H, W)`` grey or ``(n, H, W, 3)`` RGB.

    Pictures (photos, digits) are each drawn on their own grey scale. Arrays that are
    *compared* panel by panel — weights, filters, feature maps — need one scale for all
    panels, or a faint panel would look as strong as a bright one: ``symmetric=True``
    (signed values) or ``shared=True`` (e.g. activations >= 0) draw every panel on the
    same scale and add a colour bar that says what the colours mean.

    Args:
        images: the pictures; uint8 RGB is shown as is, 2-D arrays with ``cmap``.
        titles: one short caption per image (e.g. ``"true: cat\\npred: non-cat"``).
        suptitle: the figure's title.
        ncols: images per row.
        size: inches per image.
        cmap: colour map for grey images.
        symmetric: one scale ``[-v, +v]`` for all grey panels, ``v`` the largest
            ``|value|`` among them, with a diverging colour map (red positive, blue
            negative, white 0) — for weights, filters and gradients.
        shared: one scale ``[min, max]`` over all grey panels, with ``cmap``.
        colorbar_label: what the colour bar measures (with ``symmetric`` or ``shared``),
            e.g. ``"weight"`` or ``"activation (ReLU output)"``.
    """
    plt = _pyplot()
    images = [np.asarray(image) for image in images]
    n = len(images)
    if n == 0:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    grey = [image for image in images if not (image.ndim == 3 and image.shape[-1] == 3)]
    scale = None
    if (symmetric or shared) and grey:
        if symmetric:
            v = max(float(np.abs(image).max()) for image in grey) or 1.0
            scale = {"cmap": "RdBu_r", "vmin": -v, "vmax": v}
        else:
            lo = min(float(image.min()) for image in grey)
            hi = max(float(image.max()) for image in grey)
            scale = {"cmap": cmap, "vmin": lo, "vmax": hi if hi > lo else lo + 1.0}
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    # The layout in inches, computed rather than left to tight_layout (several times
    # faster for a large grid, and the same on every machine): a band above each panel
    # for its title, one above the grid for the figure's title, one on the right for the
    # colour bar.
    lines = max(t.count("\n") + 1 for t in titles) if titles else 0
    title_band = 0.17 * lines + 0.08 if lines else 0.04
    gap, margin = 0.12, 0.08
    top = 0.45 if suptitle else margin
    right = 1.1 if scale else margin
    cell_h = size + title_band
    width = margin + ncols * size + (ncols - 1) * gap + right
    height = top + nrows * cell_h + margin
    fig = plt.figure(figsize=(width, height))
    for k, image in enumerate(images):
        row, col = divmod(k, ncols)
        left = margin + col * (size + gap)
        bottom = height - top - row * cell_h - title_band - size
        ax = fig.add_axes((left / width, bottom / height, size / width, size / height))
        ax.axis("off")
        if image.ndim == 3 and image.shape[-1] == 3:
            ax.imshow(image)
        elif scale is not None:
            mappable = ax.imshow(image, **scale)
        else:
            ax.imshow(image, cmap=cmap)
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, y=1 - 0.12 / height, va="top")
    if scale is not None:
        grid_h = nrows * cell_h - title_band
        bar_h = min(grid_h, max(size, 0.8 * grid_h))
        cax = fig.add_axes(
            (
                (width - right + 0.2) / width,
                (margin + (grid_h - bar_h) / 2) / height,
                0.15 / width,
                bar_h / height,
            )
        )
        fig.colorbar(mappable, cax=cax, label=colorbar_label)
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    title: str,
    xlabel: str = "iteration (gradient-descent step)",
    ylabel: str = "cost J (cross-entropy, nats)",
    logy: bool = False,
    ax: Any = None,
    start: int = 0,
) -> Any:
    """Line plots of named series against their index — cost or accuracy per step/epoch.

    ``plot_curves({"lr = 0.005": costs}, title="Training cost")``; ``logy=True`` for a
    logarithmic y axis (costs spanning orders of magnitude). The x axis counts steps or
    epochs: the first value is drawn at ``start`` (e.g. ``start=1`` for "after epoch 1")
    and the ticks are whole numbers.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
    else:
        fig = ax.figure
    for label, values in curves.items():
        ax.plot(start + np.arange(len(values)), np.asarray(values, dtype=float), label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(curves) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray] | None,
    X: np.ndarray,
    y: np.ndarray,
    title: str,
    ax: Any = None,
    resolution: int = 200,
    xlabel: str = "$x_1$ (arbitrary units)",
    ylabel: str = "$x_2$ (arbitrary units)",
) -> Any:
    """The regions a 2-D classifier assigns to each class, with the data on top.

    Args:
        predict: maps points ``(2, k)`` (examples as columns, the course's convention) to
            labels ``(k,)`` or ``(1, k)``, e.g. ``model.predict``; ``None`` draws the data
            alone.
        X: the data, ``(2, m)``.
        y: labels ``(m,)`` or ``(1, m)``.
        title: the plot's title.
        ax: draw into this Axes (for a grid of boundaries); a new figure otherwise.
        resolution: grid points per axis.
    """
    plt = _pyplot()
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != 2:
        raise ValueError(f"expected X of shape (2, m) (points as columns), got {X.shape}")
    y = np.asarray(y).reshape(-1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    else:
        fig = ax.figure
    pad = 0.1 * (X.max(axis=1) - X.min(axis=1)) + 0.1
    lo, hi = X.min(axis=1) - pad, X.max(axis=1) + pad
    g1, g2 = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    grid = np.stack([g1.ravel(), g2.ravel()])
    if predict is not None:
        labels = np.asarray(predict(grid)).reshape(g1.shape)
        ax.contourf(g1, g2, labels, levels=[-0.5, 0.5, 1.5], colors=["#9ecae1", "#fdae6b"])
    for label, colour in ((0, "#08519c"), (1, "#a63603")):
        pts = X[:, y == label]
        ax.scatter(pts[0], pts[1], s=8, c=colour, label=f"class {label}")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_decision_boundaries(
    predicts: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    X: np.ndarray,
    y: np.ndarray,
    suptitle: str,
    ncols: int = 4,
    size: float = 3.4,
) -> Any:
    """A grid of :func:`plot_decision_boundary` panels, one per ``{title: predict}`` entry
    — e.g. the same data set classified by networks with different hidden-layer sizes."""
    plt = _pyplot()
    n = len(predicts)
    if n == 0:
        raise ValueError("plot_decision_boundaries needs at least one classifier")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax, (title, predict) in zip(axes.flat[:n], predicts.items(), strict=True):
        plot_decision_boundary(predict, X, y, title=title, ax=ax, resolution=150)
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    counts: np.ndarray,
    classes: Sequence[str],
    title: str,
    ax: Any = None,
) -> Any:
    """A confusion matrix as a heat map with the count written in every cell.

    Args:
        counts: ``(C, C)`` integers; ``counts[i, j]`` is the number of examples of true
            class ``i`` predicted as class ``j`` (the diagonal holds the correct answers).
        classes: the ``C`` class names, in label order.
        title: the plot's title.
        ax: draw into this Axes; a new figure otherwise.

    The colour scale is logarithmic so that the few mistakes stand out next to the many
    correct answers on the diagonal.
    """
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    counts = np.asarray(counts)
    n = len(classes)
    if counts.shape != (n, n):
        raise ValueError(f"expected counts of shape ({n}, {n}) for {n} classes, got {counts.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.55 * n + 2.5, 0.55 * n + 1.8))
    else:
        fig = ax.figure
    image = ax.imshow(
        np.maximum(counts, 0.5), cmap="Blues", norm=LogNorm(vmin=0.5, vmax=max(counts.max(), 1))
    )
    threshold = np.sqrt(max(counts.max(), 1))  # the middle of the log scale
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                colour = "white" if counts[i, j] > threshold else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(n), classes)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="number of examples (log scale)")
    fig.tight_layout()
    return fig
