"""preprocess_digit's fast path for uint8 grayscale drawings (what the served stack sees)
gives exactly the numbers of the general path, on many drawings.

The general path runs for every other dtype; a uint16 copy of the same grey levels takes
it and computes the same values (levels up to 255 are read as 0..255), so the two answers
must be equal bit for bit, including which drawings are refused as empty and why.
"""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dlcore.digits import EmptyDrawingError, drawn_like, preprocess_digit


def both_paths(image: np.ndarray):
    """The answer (array, or the EmptyDrawingError message) of each path."""
    answers = []
    for a in (image, image.astype(np.uint16)):
        try:
            answers.append(preprocess_digit(a))
        except EmptyDrawingError as e:
            answers.append(f"EmptyDrawingError: {e}")
    return answers


def assert_same(image: np.ndarray) -> None:
    fast, general = both_paths(image)
    if isinstance(fast, str) or isinstance(general, str):
        assert fast == general, f"{image.shape}: fast {fast!r:.80} vs general {general!r:.80}"
        return
    assert fast.dtype == general.dtype == np.float32
    if not np.array_equal(fast, general):
        worst = np.unravel_index(np.argmax(np.abs(fast - general)), fast.shape)
        pytest.fail(f"{image.shape}: fast {fast[worst]!r} vs general {general[worst]!r} "
                    f"at {worst}")


def random_images(rng: np.random.Generator, count: int):
    """Noise, sparse ink on a flat background, two-level images (median ties between
    two levels), a single odd pixel, low contrast, odd and even pixel counts, 1xN."""
    for i in range(count):
        h, w = (int(n) for n in rng.integers(1, 90, 2))
        if i % 7 == 6:
            h = 1
        kind = i % 5
        if kind == 0:
            image = rng.integers(0, 256, (h, w), dtype=np.uint8)
        elif kind == 1:
            image = np.full((h, w), rng.integers(0, 256), np.uint8)
            spots = rng.choice(h * w, int(rng.integers(0, h * w + 1)), replace=False)
            image.flat[spots] = rng.integers(0, 256, spots.size)
        elif kind == 2:
            image = rng.choice(rng.integers(0, 256, 2).astype(np.uint8), (h, w))
        elif kind == 3:
            image = np.full((h, w), rng.integers(0, 256), np.uint8)
            image.flat[rng.integers(0, h * w)] = rng.integers(0, 256)
        else:
            base = int(rng.integers(0, 230))
            image = (base + rng.integers(0, 40, (h, w))).clip(0, 255).astype(np.uint8)
        yield image


def test_fast_path_equals_general_path_on_random_images():
    for image in random_images(np.random.default_rng(20261125), 1500):
        assert_same(image)


def test_fast_path_equals_general_path_on_pen_drawings():
    rng = np.random.default_rng(7)
    digits = (rng.random((60, 28, 28)) > 0.7).astype(np.float32)  # blotchy "digits"
    for canvas in drawn_like(digits, rng=rng, canvas=120):
        assert_same(canvas)


@pytest.mark.parametrize("paper,ink", [(255, 0), (0, 255), (200, 60), (30, 220)])
def test_fast_path_equals_general_path_on_anti_aliased_strokes(paper, ink):
    image = Image.new("L", (280, 280), paper)
    pen = ImageDraw.Draw(image)
    pen.arc((80, 50, 200, 150), -160, 90, fill=ink, width=20)
    pen.arc((80, 130, 200, 240), -90, 160, fill=ink, width=20)
    big = image.resize((281, 279), Image.Resampling.LANCZOS)  # grey edges, odd pixel count
    assert_same(np.asarray(image))
    assert_same(np.asarray(big))


def faint_corner(level: int, inverted: bool) -> np.ndarray:
    """A stroke, and one pixel at ``level`` far from it: 6/255 is the faintest level that
    still counts as ink (INK_THRESHOLD = 0.02), 5/255 is not."""
    image = np.zeros((40, 30), np.uint8)
    image[15:25, 12:16] = 255
    image[2, 27] = level
    return 255 - image if inverted else image


@pytest.mark.parametrize("level", [5, 6, 7])
@pytest.mark.parametrize("inverted", [False, True])
def test_the_faintest_ink_level_decides_the_box_alike(level, inverted):
    image = faint_corner(level, inverted)
    assert_same(image)
    stroke_alone = faint_corner(0, inverted)
    widened = not np.array_equal(preprocess_digit(image), preprocess_digit(stroke_alone))
    assert widened == (level >= 6)  # the faint pixel counted for the box or not


@pytest.mark.parametrize("image", [
    np.zeros((5, 5), np.uint8), np.full((3, 4), 255, np.uint8), np.full((1, 1), 9, np.uint8),
    np.array([[0, 255]], np.uint8), np.array([[255, 0, 0]], np.uint8),
    np.array([[100, 120]], np.uint8), np.array([[0], [30]], np.uint8),
], ids=["black", "white", "one-pixel", "two-pixels", "ink-on-black", "faint", "column"])
def test_fast_path_equals_general_path_on_edge_cases(image):
    assert_same(image)
