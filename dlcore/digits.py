"""Handwritten digits: one preprocessing path shared by training and serving, and augmentation.

Taught in notebooks/07-softmax-and-mnist.ipynb (augmentation) and 09-serve-and-draw.ipynb
(preprocessing, step by step).

MNIST digits follow a convention (LeCun et al.): white ink on black, the digit scaled so
its longer side is 20 pixels (keeping the aspect ratio, anti-aliased), then placed in a
28x28 field so that its centre of mass sits at the centre (pixel ``(14, 14)``, counting
rows and columns from 0). A model trained on MNIST expects exactly that, so a digit
someone draws must be brought to the same convention before the model sees it:

    x = preprocess_digit(canvas)          # any size, either polarity, gray/RGB/RGBA
    model.predict_proba(x.reshape(784, 1))     # dense model: a column
    model.predict_proba(x[None, None])         # convolutional model: (1, 1, 28, 28)

:func:`preprocess_digit` is the ONE implementation: the notebooks, the drawing pad, the
gRPC worker and the tests all call it. :func:`augment` makes the random variations (shift,
rotation, scale, stroke width) that teach a network to read drawings that are not as tidy
as MNIST; :func:`drawn_like` simulates pen drawings of test digits to measure that.

Deliberately left out: deskewing, splitting several digits, and rejecting non-digits —
a drawing with ink always gets a prediction; only an empty canvas is refused.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dlcore.init import SeedLike, as_generator

SIZE = 28  #: side of the output field
BOX = 20  #: the longer side of the digit after scaling
CENTRE = 14.0  #: where the centre of mass goes (row and column index; MNIST's own mean)
MIN_CONTRAST = 0.1  #: ink must differ from the background by this much (of full scale)
INK_THRESHOLD = 0.02  #: pixels at least this bright (after normalising) count for the box
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights, as Pillow's convert("L")


class EmptyDrawingError(ValueError):
    """The image has no ink: nothing was drawn, so there is nothing to classify."""


def preprocess_digit(image: np.ndarray) -> np.ndarray:
    """Bring one drawing to the MNIST convention: ``(28, 28)`` float32 in ``[0, 1]``.

    Args:
        image: a 2-D grayscale array ``(H, W)`` of any size, or colour ``(H, W, 3)`` /
            ``(H, W, 4)`` (RGB / RGBA, e.g. a web canvas's pixels). Integer arrays are read
            as 0..255 (uint16 and wider: 0..dtype max if any value exceeds 255); float
            arrays as 0..1, or 0..255 if any value exceeds 1.

    Steps:
        1. Colour to gray by luminance. With an alpha channel that has transparent
           pixels, the paint is laid over a background that contrasts with it (white
           behind dark strokes, black behind light ones), so "transparent = background"
           whatever colour the strokes are.
        2. Polarity: the background is the *median* gray level (most of a drawing is
           background); if it is light the image is inverted, so ink is white on black.
           Ink is then scaled so the background is 0 and the brightest ink 1.
        3. Crop to the bounding box of the ink (pixels >= ``INK_THRESHOLD``).
        4. Scale the longer side to 20 pixels keeping the aspect ratio (Lanczos,
           anti-aliased), and rescale to a maximum of 1 (thin strokes stay visible).
        5. Paste into 28x28 so that the centre of mass lands on pixel (14, 14),
           shifted by whole pixels and kept inside the field.

    Raises:
        EmptyDrawingError: no ink (blank, uniform, or fully transparent image).
        ValueError: wrong shape, non-numeric dtype, NaN/inf or negative values.
    """
    a = np.asarray(image)
    if a.dtype == np.uint8 and a.ndim == 2 and a.size:
        patch = _uint8_ink_patch(a)  # the common case, served drawings: same numbers, faster
    else:
        ink = _to_ink(_to_gray(a))
        rows = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=1))
        cols = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=0))
        patch = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    patch = _scale_to_box(patch, BOX)
    return _paste_centred(patch, SIZE, CENTRE)


def preprocess_digits(images) -> np.ndarray:
    """:func:`preprocess_digit` for each image of a sequence: ``(m, 28, 28)`` float32."""
    return np.stack([preprocess_digit(image) for image in images]).astype(np.float32)


def _to_gray(image) -> np.ndarray:
    """Any accepted input as a float64 ``(H, W)`` array in ``[0, 1]`` (1 = white)."""
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"expected a numeric image array, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ValueError(
            f"expected a grayscale (H, W) or RGB(A) (H, W, 3|4) image, got shape {a.shape}"
        )
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"expected a non-empty image, got shape {a.shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError("the image contains NaN or infinite values")
    x = a.astype(np.float64)
    if x.min() < 0:
        raise ValueError(f"expected intensities >= 0, got a minimum of {x.min():g}")
    if a.dtype.kind == "b":
        full = 1.0
    elif a.dtype.kind in "iu":
        full = 255.0 if x.max() <= 255 else float(np.iinfo(a.dtype).max)
    else:
        full = 1.0 if x.max() <= 1 else 255.0
    x = np.clip(x / full, 0, 1)
    if x.ndim == 2:
        return x
    lum = x[:, :, :3] @ _LUMA
    if x.shape[2] == 3:
        return lum
    alpha = x[:, :, 3]
    if alpha.max() < MIN_CONTRAST:
        raise EmptyDrawingError(
            "the drawing is empty: every pixel is transparent (draw a digit first)"
        )
    if alpha.min() >= 1:
        return lum
    paint = float(np.sum(lum * alpha) / np.sum(alpha))
    background = 1.0 if paint < 0.5 else 0.0  # contrast with the strokes' colour
    return lum * alpha + background * (1 - alpha)


def _to_ink(gray: np.ndarray) -> np.ndarray:
    """White ink on black: background 0, brightest ink 1."""
    background = float(np.median(gray))
    if background > 0.5:
        gray, background = 1 - gray, 1 - background
    contrast = float(gray.max()) - background
    if contrast < MIN_CONTRAST:
        raise _no_contrast()
    return np.clip((gray - background) / contrast, 0, 1)


def _uint8_ink_patch(a: np.ndarray) -> np.ndarray:
    """Steps 1-3 for a uint8 grayscale image, computed per grey level instead of per pixel.

    A uint8 image has at most 256 distinct levels, so ``_to_gray`` and ``_to_ink`` are
    evaluated once for each level (a lookup table), the median comes from a histogram,
    and only the cropped patch is looked up. Every number is computed by the same
    floating-point operations as the general path, so the result is identical (the tests
    compare both paths bit for bit); it is several times faster on a 280x280 canvas,
    which matters to the served stack, where this runs for every drawing.
    """
    gray = np.clip(np.arange(256, dtype=np.float64) / 255.0, 0, 1)  # as _to_gray: a / 255
    counts = np.array(Image.fromarray(a).histogram())  # np.bincount's counts, 2x faster
    present = counts > 0
    # np.median: the middle value, or the mean of the two middle values of an even count
    cumulative = np.cumsum(counts)
    n = a.size
    upper = int(np.searchsorted(cumulative, n // 2, side="right"))
    if n % 2:
        background = float(gray[upper])
    else:
        lower = int(np.searchsorted(cumulative, n // 2 - 1, side="right"))
        background = float((gray[lower] + gray[upper]) / 2)
    inverted = background > 0.5
    if inverted:
        gray, background = 1 - gray, 1 - background
    contrast = float(gray[present].max()) - background
    if contrast < MIN_CONTRAST:
        raise _no_contrast()
    ink = np.clip((gray - background) / contrast, 0, 1)
    # ink never decreases with the level (never increases once inverted), so the levels
    # that count for the box are those from one level up (down): compare, do not look up.
    levels = np.flatnonzero(ink >= INK_THRESHOLD)
    if inverted:
        rows = np.flatnonzero(a.min(axis=1) <= levels[-1])
        cols = np.flatnonzero(a.min(axis=0) <= levels[-1])
    else:
        rows = np.flatnonzero(a.max(axis=1) >= levels[0])
        cols = np.flatnonzero(a.max(axis=0) >= levels[0])
    # float32, as _scale_to_box takes it (each level rounded once, not each pixel)
    return np.take(ink.astype(np.float32), a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def _no_contrast() -> EmptyDrawingError:
    return EmptyDrawingError(
        "the drawing is empty: no pixel differs from the background by more than "
        f"{MIN_CONTRAST:.0%} of full scale (draw a digit first)"
    )


def _scale_to_box(patch: np.ndarray, box: int) -> np.ndarray:
    """Resize so the longer side is ``box`` pixels, keeping the aspect ratio; max 1."""
    h, w = patch.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    img = Image.fromarray(np.asarray(patch, dtype=np.float32))  # mode "F": 32-bit floats
    out = np.asarray(img.resize((new_w, new_h), Image.Resampling.LANCZOS), dtype=np.float64)
    out = np.clip(out, 0, None)  # Lanczos rings slightly below 0 next to strokes
    return out / out.max() if out.max() > 0 else out


def _paste_centred(patch: np.ndarray, size: int, centre: float) -> np.ndarray:
    """Place ``patch`` in a ``size x size`` field, its centre of mass near ``centre``."""
    h, w = patch.shape
    total = patch.sum()
    cy = (patch.sum(axis=1) @ np.arange(h)) / total
    cx = (patch.sum(axis=0) @ np.arange(w)) / total
    top = int(np.clip(round(centre - cy), 0, size - h))
    left = int(np.clip(round(centre - cx), 0, size - w))
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + h, left : left + w] = patch
    return field


# -- augmentation ------------------------------------------------------------------------


def augment(
    images: np.ndarray,
    rng: SeedLike = None,
    max_shift: float = 2.0,
    max_rotation: float = 12.0,
    scale: tuple[float, float] = (0.85, 1.1),
    max_shear: float = 0.15,
    thickness: tuple[float, float] = (-0.5, 1.0),
) -> np.ndarray:
    """Random small variations of digit images, for training: ``(m, 28, 28)`` -> same shape.

    Each image gets its own random affine map (shift up to ``max_shift`` pixels,
    rotation up to ``max_rotation`` degrees, scale in ``scale``, shear up to ``max_shear``)
    about the centre (14, 14), sampled bilinearly, and a random stroke width change
    ``t`` in ``thickness`` (``t > 0`` blends towards a dilation by one pixel, ``t < 0``
    towards an erosion). Everything is vectorised over the batch.

    Args:
        images: ``(m, 28, 28)`` (any size ``(m, H, W)`` works), uint8 0..255 or float 0..1.
        rng: seed or Generator; the same seed gives the same images.

    Returns:
        float32 images in ``[0, 1]``, same shape.
    """
    x = np.asarray(images)
    if x.ndim != 3:
        raise ValueError(f"expected images of shape (m, H, W), got {x.shape}")
    x = x.astype(np.float32) / (255 if x.dtype.kind in "iu" else 1)
    rng = as_generator(rng)
    m = x.shape[0]
    t = rng.uniform(*thickness, size=(m, 1, 1)).astype(np.float32)
    x = _stroke_width(x, t)
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation, m))
    zoom = rng.uniform(*scale, m)
    shear = rng.uniform(-max_shear, max_shear, m)
    shift = rng.uniform(-max_shift, max_shift, (2, m))
    # M = zoom * R(angle) * shear acts on (row, column) offsets from the centre; the output
    # pixel p reads the input at c + M^-1 (p - c - shift).
    c, s = np.cos(angle), np.sin(angle)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], 1)  # (m, 2, 2)
    S = np.zeros((m, 2, 2))
    S[:, 0, 0] = S[:, 1, 1] = 1
    S[:, 1, 0] = shear
    M = zoom[:, None, None] * R @ S
    return _affine_sample(x, np.linalg.inv(M), shift)


def _stroke_width(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend each image towards its 3x3-cross dilation (t > 0) or erosion (t < 0)."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    centre, up, down = p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1]
    neighbours = [centre, up, down, p[:, 1:-1, :-2], p[:, 1:-1, 2:]]
    grown = np.maximum.reduce(neighbours)
    shrunk = np.minimum.reduce(neighbours)
    return np.where(t > 0, x + t * (grown - x), x + t * (x - shrunk))


def _affine_sample(x: np.ndarray, inv: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Bilinear sampling of every image at ``c + inv[i] (p - c - shift[:, i])``."""
    m, H, W = x.shape
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    dy = ys[None] - CENTRE - shift[0][:, None, None]
    dx = xs[None] - CENTRE - shift[1][:, None, None]
    src_y = CENTRE + inv[:, 0, 0, None, None] * dy + inv[:, 0, 1, None, None] * dx
    src_x = CENTRE + inv[:, 1, 0, None, None] * dy + inv[:, 1, 1, None, None] * dx
    # Pad with one pixel of zeros and clamp, so samples outside read black.
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1))).reshape(m, -1)
    y0 = np.clip(np.floor(src_y), -1, H).astype(np.intp)
    x0 = np.clip(np.floor(src_x), -1, W).astype(np.intp)
    wy = np.clip(src_y - y0, 0, 1).astype(np.float32)
    wx = np.clip(src_x - x0, 0, 1).astype(np.float32)
    y1, x1 = np.minimum(y0 + 1, H), np.minimum(x0 + 1, W)

    def at(yy, xx):
        return np.take_along_axis(padded, ((yy + 1) * (W + 2) + xx + 1).reshape(m, -1), axis=1)

    out = (
        at(y0, x0).reshape(m, H, W) * (1 - wy) * (1 - wx)
        + at(y0, x1).reshape(m, H, W) * (1 - wy) * wx
        + at(y1, x0).reshape(m, H, W) * wy * (1 - wx)
        + at(y1, x1).reshape(m, H, W) * wy * wx
    )
    return np.clip(out, 0, 1).astype(np.float32)


def drawn_like(
    images: np.ndarray, rng: SeedLike = None, canvas: int = 200
) -> list[np.ndarray]:
    """Simulate pen drawings of digits, to test the whole drawing -> prediction path.

    Each ``(28, 28)`` digit is enlarged to a random height (30-90 % of a ``canvas``-pixel
    square), turned into solid pen strokes of random width (thresholded at a random
    level, so strokes are crisp and uniform like a drawing pad's, unlike MNIST's soft
    ones), placed at a random position, and drawn in random polarity (black on white or
    white on black) as uint8. Feed the results through :func:`preprocess_digit`.

    Returns:
        a list of ``(canvas, canvas)`` uint8 arrays.
    """
    rng = as_generator(rng)
    out = []
    for image in np.asarray(images):
        x = np.asarray(image, dtype=np.float32) / (255 if image.dtype.kind in "iu" else 1)
        side = int(rng.uniform(0.3, 0.9) * canvas * SIZE / BOX)  # the 20-px box -> 30-90 %
        big = np.asarray(Image.fromarray(x).resize((side, side), Image.Resampling.BILINEAR))
        pen = big >= rng.uniform(0.2, 0.6)
        rows, cols = np.flatnonzero(pen.any(axis=1)), np.flatnonzero(pen.any(axis=0))
        if rows.size == 0:  # a digit too faint for this pen: draw nothing
            out.append(np.zeros((canvas, canvas), dtype=np.uint8))
            continue
        pen = pen[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1][:canvas, :canvas]
        top = rng.integers(0, canvas - pen.shape[0] + 1)
        left = rng.integers(0, canvas - pen.shape[1] + 1)
        drawing = np.zeros((canvas, canvas), dtype=np.uint8)
        drawing[top : top + pen.shape[0], left : left + pen.shape[1]] = 255 * pen
        out.append(255 - drawing if rng.random() < 0.5 else drawing.copy())
    return out
