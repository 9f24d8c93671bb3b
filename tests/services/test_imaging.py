"""Untrusted image bytes: only four formats, pixel count checked before decoding, clear errors."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from stack_helpers import bomb_png, drawn_digit, encode, photo

from services import imaging
from services.proto import inference_pb2 as pb
from services.worker import preprocess


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


# -- the worker's fast decoding of plain PNGs ----------------------------------------------


def pillow_drawing(data: bytes) -> np.ndarray:
    """What the worker's digit_pixels gives through Pillow alone: grey levels if opaque,
    else RGBA (the decoding the fast path must equal)."""
    drawing = imaging.decode(data, "RGBA")
    if drawing.getchannel("A").getextrema()[0] == 255:
        drawing = drawing.convert("L")
    return np.asarray(drawing, dtype=np.uint8)


def assert_decoded_alike(data: bytes, plain: bool = True) -> None:
    fast = preprocess._plain_png_pixels(data)
    if not plain:
        assert fast is None, "this PNG must take Pillow's path"
        return
    assert fast is not None, "this PNG should take the fast path"
    expected = pillow_drawing(data)
    assert fast.dtype == expected.dtype == np.uint8
    assert fast.shape == expected.shape
    assert np.array_equal(fast, expected), np.argwhere(fast != expected)[:5]
    served = preprocess.digit_pixels(pb.Image(encoded=data))
    assert np.array_equal(served, expected)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(mode=st.sampled_from(["L", "RGB", "RGBA", "RGBA-opaque", "grey-RGB"]),
       height=st.integers(1, 70), width=st.integers(1, 70),
       level=st.integers(0, 9), seed=st.integers(0, 2**32 - 1), smooth=st.booleans())
def test_plain_pngs_decode_to_pillows_pixels(mode, height, width, level, seed, smooth):
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "grey-RGB": 3}.get(mode, 4)
    if smooth:  # strokes on paper: long runs, every PNG filter gets chosen somewhere
        pixels = np.full((height, width, channels), 255, np.uint8)
        pixels[rng.integers(0, height, height // 2), :] = rng.integers(0, 256, channels)
        pixels[:, rng.integers(0, width, width // 3)] //= 3
    else:
        pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if mode == "grey-RGB":
        pixels[:] = pixels[:, :, :1]
    if mode == "RGBA-opaque":
        pixels[:, :, 3] = 255
    image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels,
                            {1: "L", 3: "RGB", 4: "RGBA"}[channels])
    assert_decoded_alike(encode(image, compress_level=level))


def test_the_benchmarks_page_drawings_take_the_fast_path():
    from benchmarks.serving.drawings import page_png

    rng = np.random.default_rng(0)
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 12:16] = 255
    for _ in range(3):
        assert_decoded_alike(page_png(digit, rng))


def test_chunks_that_change_no_pixel_keep_the_fast_path():
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "a canvas")
    info.add_itxt("Comment", "ünïcode", zip=True)
    image = Image.fromarray(drawn_digit(60))
    assert_decoded_alike(encode(image, pnginfo=info, dpi=(96, 96)))
    # image data split over many IDAT chunks (as libpng and browsers write big images)
    data = encode(image, compress_level=0)
    assert_decoded_alike(split_idat(data, 100))


def split_idat(data: bytes, size: int) -> bytes:
    """The same PNG with its image data in IDAT chunks of ``size`` bytes."""
    chunks, position, idat = [], 8, b""
    while position < len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IDAT":
            idat += body
            continue
        if kind == b"IEND":
            chunks += [png_chunk(b"IDAT", idat[i:i + size]) for i in range(0, len(idat), size)]
        chunks.append(png_chunk(kind, body))
    return data[:8] + b"".join(chunks)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", len(body), kind) + body + struct.pack(
        ">I", zlib.crc32(body, zlib.crc32(kind)))


def test_pngs_pillow_reads_otherwise_take_pillows_path():
    grey = drawn_digit(40)
    transparent_colour = encode(Image.fromarray(grey), transparency=255)  # a tRNS chunk
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate on display
    rotated = encode(Image.fromarray(grey), exif=exif)
    raw_profile = PngImagePlugin.PngInfo()
    raw_profile.add_text("Raw profile type exif", "exif\n      10\n4578696600004d4d")
    cases = {
        "tRNS": transparent_colour,
        "eXIf": rotated,
        "EXIF in text": encode(Image.fromarray(grey), pnginfo=raw_profile),
        "interlaced": interlaced(grey),
        "palette": encode(Image.fromarray(grey).convert("P")),
        "16-bit": encode(Image.fromarray(grey.astype(np.uint16) * 257)),
        "1-bit": encode(Image.fromarray(grey).convert("1")),
        "grey + alpha": encode(Image.fromarray(grey).convert("LA")),
        "JPEG": encode(Image.fromarray(grey), "JPEG"),
        "data after IEND": encode(Image.fromarray(grey)) + b"tail",
    }
    for name, data in cases.items():
        assert preprocess._plain_png_pixels(data) is None, name
        preprocess.digit_pixels(pb.Image(encoded=data))  # Pillow decodes them as before


def interlaced(grey: np.ndarray) -> bytes:
    """``grey`` as an interlaced (Adam7) PNG: Pillow writes none, so the IHDR of a plain
    one is marked interlaced and its image data laid out in the seven passes."""
    h, w = grey.shape
    rows = []
    for top, left, dy, dx in ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4),
                              (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)):
        sub = grey[top::dy, left::dx]
        if sub.size:
            rows += [b"\x00" + row.tobytes() for row in sub]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"".join(rows))) + png_chunk(b"IEND", b""))


def test_damaged_pngs_are_left_to_pillow_and_refused_as_before():
    data = encode(Image.fromarray(drawn_digit(60)))
    idat = data.index(b"IDAT")
    flipped = bytearray(data)
    flipped[idat + 20] ^= 0xFF  # image data no longer matches its CRC
    cases = {
        "truncated": data[: len(data) - 30],
        "bad CRC": bytes(flipped),
        "image data of another size": split_idat(encode(Image.fromarray(drawn_digit(50))), 10**6)
        .replace(b"\x00\x00\x00\x32\x00\x00\x00\x32", b"\x00\x00\x00\x3c\x00\x00\x00\x3c", 1),
    }
    for name, damaged in cases.items():
        assert preprocess._plain_png_pixels(damaged) is None, name
        with pytest.raises(preprocess.InputError):
            preprocess.digit_pixels(pb.Image(encoded=damaged))


def test_image_data_that_inflates_past_the_header_is_not_inflated_whole():
    # the header says 8x8 pixels; the image data holds 4096x4096 (a small bomb)
    small = encode(Image.new("L", (8, 8)))
    big = encode(Image.new("L", (4096, 4096)))
    header = small[:33]
    rest = big[33:]
    assert preprocess._plain_png_pixels(header + rest) is None
