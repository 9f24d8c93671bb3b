"""From a request's image to the array a model takes — the same steps the course uses.

- Cats: decode as RGB, crop the centre square, resize to 64x64 (Lanczos), then
  ``dlcore.layout.flatten_images`` (uint8 / 255, pixels row by row, channels last), the
  preprocessing the cat model was trained with (its card's ``input.preprocessing``).
- Digits: decode as RGBA, or take the pixel array as sent, then
  ``dlcore.digits.preprocess_digit``: MNIST-style cropping, scaling into a 20x20 box and
  centring by mass in 28x28, either polarity, transparency read as background.
  An opaque drawing becomes grey levels first (Pillow's ``convert("L")``, the same
  BT.601 weights ``preprocess_digit`` uses). A plain PNG (:func:`services.imaging.plain_png`:
  what canvases write) is decoded with libspng (``pyspng``), twice as fast as Pillow's
  decoder; every other file, and any file libspng refuses, with Pillow — the pixels are
  the same either way (tests/services/test_imaging.py compares them).

Everything here raises :class:`InputError` (a ``ValueError``) with a message meant for the
person who sent the image.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pyspng
from PIL import Image, ImageOps
from zlib_ng import zlib_ng

from dlcore.digits import EmptyDrawingError, preprocess_digit
from dlcore.layout import flatten_images
from services import imaging
from services.proto import inference_pb2

CAT_SIZE = (64, 64)
#: A drawing sent as numbers may be at most this many pixels on a side.
MAX_PIXELS_SIDE = 2048


class InputError(ValueError):
    """The request's image cannot be used; the message says why."""


def cat_pixels(image: inference_pb2.Image) -> np.ndarray:
    """The 64x64x3 uint8 picture the cat model sees."""
    if image.WhichOneof("source") != "encoded":
        raise InputError("a cat photo must be sent as an image file (PNG, JPEG, WebP or GIF)")
    try:
        photo = imaging.decode(image.encoded, "RGB", draft_size=(2 * CAT_SIZE[0], 2 * CAT_SIZE[1]))
    except imaging.ImageError as e:
        raise InputError(str(e)) from None
    photo = ImageOps.fit(photo, CAT_SIZE, method=Image.Resampling.LANCZOS)
    return np.asarray(photo, dtype=np.uint8)


def cat_input(pixels: np.ndarray) -> np.ndarray:
    """``(64, 64, 3)`` uint8 -> ``(12288,)`` float32 in [0, 1], ``flatten_images`` order."""
    return flatten_images(pixels[np.newaxis])[:, 0]


def png_bytes(pixels: np.ndarray) -> bytes:
    """A uint8 image array as a PNG file (to show what the model saw)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def digit_pixels(image: inference_pb2.Image) -> np.ndarray:
    """The drawing as uint8 pixels before MNIST preprocessing: ``(H, W)`` grey levels, or
    ``(H, W, 4)`` RGBA for an image file with transparent pixels (``preprocess_digit``
    reads transparency as background, whatever the ink colour)."""
    source = image.WhichOneof("source")
    if source == "encoded":
        pixels = _plain_png_pixels(image.encoded)
        if pixels is not None:
            return pixels
        try:
            drawing = imaging.decode(image.encoded, "RGBA")
        except imaging.ImageError as e:
            raise InputError(str(e)) from None
        if drawing.getchannel("A").getextrema()[0] == 255:
            # Opaque: Pillow's grey conversion (the same BT.601 weights preprocess_digit
            # uses) is many times faster than converting the RGBA array in NumPy.
            drawing = drawing.convert("L")
        return np.asarray(drawing, dtype=np.uint8)
    if source == "pixels":
        return _grey_levels(image.pixels)
    raise InputError("the request carries no image")


def _plain_png_pixels(data: bytes) -> np.ndarray | None:
    """:func:`digit_pixels` of a plain PNG (:func:`services.imaging.plain_png`); None if it
    is not plain or not whole (then Pillow decodes it, or says what is wrong with it)."""
    png = imaging.plain_png(data)
    pixels = None if png is None else _decode_plain_png(png)
    return None if pixels is None else _grey_if_opaque(pixels, png.mode)


def _decode_plain_png(png: imaging.PlainPNG) -> np.ndarray | None:
    """The pixels of ``png`` in its own mode (``(H, W)`` or ``(H, W, 3|4)`` uint8).

    Decoding a PNG is inflating its zlib stream, then undoing each row's filter. libspng
    undoes filters several times faster than Pillow but inflates with a bundled zlib at a
    tenth of zlib-ng's speed, and pyspng offers no other inflater: so zlib-ng inflates,
    and libspng gets the same PNG with the rows stored uncompressed (zlib's stored
    blocks, which it copies instead of inflating). Same pixels, a third of Pillow's time.
    """
    size = png.height * (1 + png.width * len(png.mode))  # each row: filter byte + pixels
    inflater = zlib_ng.decompressobj()
    try:
        rows = inflater.decompress(png.data, size + 1)  # never more than a whole image
    except zlib_ng.error:
        return None
    if len(rows) != size or not inflater.eof or inflater.unused_data:
        return None
    # At its end with nothing after it, png.data is exactly one zlib stream: its last 4
    # bytes are the Adler-32 of the rows, which the inflater has just checked.
    try:
        return pyspng.load(_stored_png(png.header, rows, png.data[-4:]), png.mode)
    except RuntimeError:
        return None


def _grey_if_opaque(pixels: np.ndarray, mode: str) -> np.ndarray:
    """Grey levels of an opaque drawing (Pillow's ``convert("L")``, as for every other
    file), the RGBA pixels of one with transparent pixels."""
    if mode == "L" or (mode == "RGBA" and pixels[:, :, 3].min() < 255):
        return pixels  # transparent pixels: preprocess_digit lays the ink over a background
    height, width = pixels.shape[:2]
    grey = Image.frombuffer(mode, (width, height), pixels, "raw", mode, 0, 1).convert("L")
    return np.asarray(grey)


#: the end of a PNG file: an IEND chunk (empty, with its CRC)
_IEND = struct.pack(">I4sI", 0, b"IEND", zlib_ng.crc32(b"IEND"))
_STORED_BLOCK = 65535  # the most bytes one stored deflate block carries


def _stored_png(header: bytes, rows: bytes, adler32: bytes) -> bytes:
    """A PNG file of ``header`` (signature and IHDR) and ``rows`` (filtered, not
    compressed) in one IDAT chunk, as a zlib stream of stored blocks (RFC 1950/1951: a
    2-byte header, blocks of a 5-byte header and up to 65,535 bytes, then ``adler32``, the
    rows' Adler-32 as the 4 big-endian bytes that end a zlib stream of them), written in
    one pass over ``rows``."""
    view = memoryview(rows)
    last = max(len(rows) - 1, 0) // _STORED_BLOCK * _STORED_BLOCK
    parts = [b"IDAT", b"\x78\x01"]
    for start in range(0, last + 1, _STORED_BLOCK):
        block = view[start:start + _STORED_BLOCK]
        parts += [struct.pack("<BHH", start == last, len(block), 0xFFFF ^ len(block)), block]
    parts.append(adler32)
    crc = 0
    for part in parts:
        crc = zlib_ng.crc32(part, crc)
    length = sum(map(len, parts)) - 4
    return b"".join([header, struct.pack(">I", length), *parts, struct.pack(">I", crc), _IEND])


def _grey_levels(pixels: inference_pb2.Pixels) -> np.ndarray:
    h, w, n = pixels.height, pixels.width, len(pixels.values)
    if not (1 <= h <= MAX_PIXELS_SIDE and 1 <= w <= MAX_PIXELS_SIDE):
        raise InputError(
            f"a pixel array must be 1 to {MAX_PIXELS_SIDE} pixels on each side, got {h}x{w}"
        )
    if n != h * w:
        raise InputError(f"a {h}x{w} pixel array needs {h * w} values, got {n}")
    values = np.asarray(pixels.values, dtype=np.float32).reshape(h, w)
    if not np.all(np.isfinite(values)):
        raise InputError("pixel values must be finite numbers (found NaN or infinity)")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise InputError(f"pixel values must lie in [0, 255], got values in [{low:g}, {high:g}]")
    if high <= 1:  # intensities in [0, 1]
        values = values * 255
    return np.rint(values).astype(np.uint8)


def digit_input(drawing: np.ndarray) -> np.ndarray:
    """The 28x28 float32 image in [0, 1] (1 = ink) the digit models see."""
    try:
        return np.asarray(preprocess_digit(drawing), dtype=np.float32)
    except EmptyDrawingError as e:
        raise InputError(str(e)) from None
    except ValueError as e:
        raise InputError(f"the drawing cannot be read as a digit: {e}") from None
