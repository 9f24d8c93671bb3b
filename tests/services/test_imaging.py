"""Untrusted image bytes: only four formats, pixel count checked before decoding, clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from stack_helpers import bomb_png, encode, photo

from services import imaging


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_allowed_formats_are_read(fmt):
    data = encode(photo(40, 30), fmt)
    info = imaging.probe(data)
    assert (info.format, info.width, info.height) == (fmt, 40, 30)
    image = imaging.decode(data, "RGB")
    assert (image.mode, image.size) == ("RGB", (40, 30))


@pytest.mark.parametrize("fmt, name", [("BMP", "BMP"), ("TIFF", "TIFF"), ("ICO", "ICO")])
def test_other_formats_are_named_and_refused(fmt, name):
    data = encode(photo(32, 32), fmt)
    with pytest.raises(imaging.UnsupportedImageFormat, match=f"{name} images are not supported"):
        imaging.probe(data)


@pytest.mark.parametrize("data", [b"", b"hello world", b"<html></html>", b"\x89PNG\r\n"])
def test_non_images(data):
    with pytest.raises(imaging.InvalidImage):
        imaging.probe(data)


def test_truncated_file_fails_on_decode_with_a_plain_message():
    data = encode(photo(64, 64), "PNG")
    truncated = data[: len(data) // 2]
    imaging.probe(truncated)  # the header is intact
    with pytest.raises(imaging.InvalidImage, match="damaged or truncated"):
        imaging.decode(truncated, "RGB")


def test_decompression_bomb_is_refused_before_decoding():
    data = bomb_png(20000)  # 400 megapixels in a few kilobytes
    assert len(data) < 100_000
    with pytest.raises(imaging.ImageTooLarge, match="megapixels"):
        imaging.probe(data)
    with pytest.raises(imaging.ImageTooLarge):
        imaging.decode(data, "L")


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")  # as in the services
def test_pixel_limit_is_a_setting():
    data = encode(photo(100, 100))
    try:
        imaging.set_max_pixels(99 * 99)
        with pytest.raises(imaging.ImageTooLarge, match="the limit is 9,801 pixels"):
            imaging.probe(data)
    finally:
        imaging.set_max_pixels(imaging.DEFAULT_MAX_PIXELS)
    imaging.probe(data)


def test_transparent_pixels_become_white_paper():
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent black
    rgba[4:6, 4:6] = (0, 0, 0, 255)  # an opaque black dot
    grey = np.asarray(imaging.decode(encode(rgba), "L"))
    assert grey[0, 0] == 255 and grey[5, 5] == 0
    kept = np.asarray(imaging.decode(encode(rgba), "RGBA"))
    assert kept[0, 0, 3] == 0  # RGBA keeps the transparency


def test_only_the_first_gif_frame_is_used():
    frames = [Image.new("L", (8, 8), 0), Image.new("L", (8, 8), 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert np.asarray(imaging.decode(buffer.getvalue(), "L")).max() == 0
