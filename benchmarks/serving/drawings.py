"""What the benchmark sends: drawings as the web page sends them, as ready-to-write requests.

The page's canvas is 280x280 pixels, white, with black strokes about 20 pixels wide and
anti-aliased edges; "Classify" posts ``canvas.toDataURL("image/png")`` — an opaque RGBA PNG,
base64 in a data: URL — as ``{"image": ..., "model": ...}`` to ``POST /api/digits``.
:func:`page_drawings` makes such PNGs from the course's MNIST test digits (handwriting the
models have never trained on), each in another place and size on the canvas, so the
servers decode and centre a different drawing from one request to the next.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

HOST = "127.0.0.1"
CANVAS = 280
#: how many test digits are drawn by default (the first ones of the test set, so every
#: run sends the same drawings)
DRAWINGS = 10


def page_png(digit: np.ndarray, rng: np.random.Generator, size: int = CANVAS) -> bytes:
    """One ``(28, 28)`` MNIST digit (uint8, 255 = ink) drawn on the page's canvas.

    The digit is enlarged to 55-80 % of the canvas (bilinear), its soft MNIST strokes
    turned into pen strokes with a 1-2 pixel anti-aliased edge, placed at a random spot,
    and written as black on white opaque RGBA — what ``canvas.toDataURL()`` gives.
    """
    x = np.asarray(digit, dtype=np.float32) / 255
    side = int(rng.uniform(0.55, 0.8) * size)
    big = np.asarray(Image.fromarray(x).resize((side, side), Image.Resampling.BILINEAR))
    ink = np.clip((big - 0.3) / 0.25, 0, 1)  # pen strokes with an anti-aliased edge
    canvas = np.zeros((size, size), dtype=np.float32)
    top, left = rng.integers(0, size - side + 1, size=2)
    canvas[top:top + side, left:left + side] = ink
    grey = np.rint(255 * (1 - canvas)).astype(np.uint8)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def page_drawings(
    count: int = DRAWINGS, digits: np.ndarray | None = None, seed: int = 0
) -> list[bytes]:
    """``count`` page-size PNG drawings of MNIST test digits (``digits``: ``(m, 28, 28)``
    uint8 to draw instead, e.g. in tests; default: the first ``count`` of mnist-small's
    test set, fetched and verified by :mod:`dlcore.data`)."""
    if digits is None:
        from dlcore.data import load_mnist

        digits = load_mnist("mnist-small").test_x[:count]
    rng = np.random.default_rng(seed)
    return [page_png(d, rng) for d in np.asarray(digits)[:count]]


def digit_body(png: bytes, model: str) -> bytes:
    """The JSON body the page posts for ``png``, naming ``model`` ("cnn", "mlp")."""
    image = "data:image/png;base64," + base64.b64encode(png).decode()
    return json.dumps({"image": image, "model": model}).encode()


def digit_request(model: str, png: bytes, port: int) -> bytes:
    """The whole HTTP/1.1 request for ``POST /api/digits``, ready to be written."""
    body = digit_body(png, model)
    head = (
        f"POST /api/digits HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body
