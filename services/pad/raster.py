"""The pad's pixels: strokes and images become the picture the gateway gets, and the
gateway's 28x28 answers become pictures to show.

::

    image = rasterise([[(140, 40), (140, 240)]])    # a "1": (280, 280) uint8, 255 = ink
    body = {"image": png_data_url(image)}           # what a canvas's toDataURL() sends

Why rasterise in Python at all: the browser's own pixels (``Canvas.get_image_data``)
arrive late and never without a browser, while the strokes the pad records are always
there (see :mod:`services.pad`). The picture follows the MNIST polarity (255 = ink on
0 = paper); everything else — centring, scaling to 28x28 — is the worker's job
(``dlcore.digits``), whoever sent the drawing. Needs NumPy and Pillow only.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

SIZE = 280  #: side of the pad's canvas in pixels
SUPERSAMPLE = 4  #: strokes are rasterised this many times larger, then averaged down

Point = tuple[float, float]


def rasterise(
    strokes: Iterable[Sequence[Point]], size: int = SIZE, width: float | None = None
) -> np.ndarray:
    """Strokes (lists of ``(x, y)`` canvas pixels) as a ``(size, size)`` uint8 image,
    255 = ink on 0 = paper (the MNIST polarity), with round caps and joins like the
    canvas and anti-aliased edges (drawn ``SUPERSAMPLE`` times larger, then averaged).
    ``width`` is the stroke width in pixels, ``size / 14`` if not given."""
    width = size / 14 if width is None else width
    scale = SUPERSAMPLE
    big = Image.new("L", (size * scale, size * scale), 0)
    draw = ImageDraw.Draw(big)
    radius = width * scale / 2
    for stroke in strokes:
        points = [(x * scale, y * scale) for x, y in stroke]
        if len(points) > 1:
            draw.line(points, fill=255, width=round(width * scale), joint="curve")
        for x, y in points:  # round caps, and round joins where Pillow's are not
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(big.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def fit_image(image: np.ndarray, size: int = SIZE, ink: str = "light") -> np.ndarray:
    """A grey picture of any size as a ``(size, size)`` uint8 image, 255 = ink.

    Args:
        image: ``(H, W)``, uint8 0..255 or float 0..1, e.g. an MNIST test digit ``(28, 28)``.
        ink: ``"light"`` if the ink is brighter than the paper (MNIST), ``"dark"`` if it
            is darker (a scan of pencil on paper).
    """
    image = np.asarray(image)
    if image.ndim != 2 or not np.issubdtype(image.dtype, np.number):
        raise ValueError(f"expected a 2-D grey image (height, width) of numbers, got shape "
                         f"{image.shape} and dtype {image.dtype}")
    if ink not in ("light", "dark"):
        raise ValueError(f"ink must be 'light' or 'dark', got {ink!r}")
    values = image.astype(np.float64)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 255:
        raise ValueError("image values must be finite and lie in [0, 255] (or [0, 1])")
    if np.issubdtype(image.dtype, np.floating) and values.max() <= 1:
        values = values * 255
    if ink == "dark":
        values = 255 - values
    picture = Image.fromarray(values.round().astype(np.uint8))
    return np.asarray(picture.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def png_data_url(image: np.ndarray) -> str:
    """A uint8 image as a ``data:image/png;base64,...`` URL (what a canvas sends)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_bytes(rgb: np.ndarray, side: int) -> bytes:
    """A small ``(h, w, 3)`` picture scaled up to ``side`` with crisp pixels, as PNG bytes
    (for an Image widget)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).resize((side, side), Image.Resampling.NEAREST).save(buffer, "PNG")
    return buffer.getvalue()


def gray_rgb(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as white-on-black pixels (how MNIST digits look)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0, 1)
    return np.repeat((255 * v).round().astype(np.uint8)[..., None], 3, axis=-1)


def hot_rgb(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as black -> red -> yellow -> white (a "hot" colour map)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0, 1)[..., None]
    rgb = np.clip(3 * v - np.array([0.0, 1.0, 2.0]), 0, 1)
    return (255 * rgb).round().astype(np.uint8)
