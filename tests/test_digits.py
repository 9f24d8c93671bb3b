"""Digit preprocessing (the MNIST convention from any drawing) and augmentation."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dlcore.digits import (
    EmptyDrawingError,
    augment,
    drawn_like,
    preprocess_digit,
    preprocess_digits,
)


@pytest.fixture(scope="module")
def mnist_small():
    from dlcore.data import load_mnist

    return load_mnist("mnist-small")


def draw_seven(size=200, box=(60, 40, 140, 170), width=12):
    """A '7' drawn white on black with Pillow, the way a drawing pad rasterises strokes."""
    image = Image.new("L", (size, size), 0)
    x0, y0, x1, y1 = box
    pen = ImageDraw.Draw(image)
    pen.line([(x0, y0), (x1, y0), (x0 + (x1 - x0) // 3, y1)], fill=255, width=width, joint="curve")
    return np.asarray(image)


def centre_of_mass(x):
    rows, cols = np.indices(x.shape)
    return (x * rows).sum() / x.sum(), (x * cols).sum() / x.sum()


def test_output_follows_the_mnist_convention():
    x = preprocess_digit(draw_seven())
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() == 0 and x.max() == pytest.approx(1.0)
    rows = np.flatnonzero(x.max(axis=1) > 0)
    cols = np.flatnonzero(x.max(axis=0) > 0)
    # The '7' is taller than wide: its height becomes 20 px, its width keeps the ratio.
    assert rows[-1] - rows[0] + 1 == 20
    assert 10 <= cols[-1] - cols[0] + 1 <= 15
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_mnist_digits_are_already_in_the_convention(mnist_small):
    images = mnist_small.test_x[:300]
    ours = preprocess_digits(images)
    diff = np.abs(ours - images / 255.0).reshape(len(images), -1).max(axis=1)
    # Almost every MNIST digit comes back as it was (a few move by one pixel).
    assert np.mean(diff < 0.02) >= 0.97, np.sort(diff)[-10:]


def test_position_does_not_matter():
    a = preprocess_digit(draw_seven(box=(20, 20, 100, 150)))
    b = preprocess_digit(draw_seven(box=(90, 45, 170, 175)))
    np.testing.assert_allclose(a, b, atol=1e-6)


def best_shifted_correlation(a, b):
    """Correlation of two images, allowing one to move by up to a pixel each way."""
    return max(
        np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def test_size_does_not_matter_much():
    small = preprocess_digit(draw_seven(size=100, box=(30, 20, 70, 85), width=8))
    large = preprocess_digit(draw_seven(size=400, box=(120, 80, 280, 340), width=32))
    # Resampling differs, and the whole-pixel centring may round the other way.
    assert best_shifted_correlation(small, large) > 0.9


def test_polarity_dtype_and_colour_give_the_same_result():
    white_on_black = draw_seven()
    expected = preprocess_digit(white_on_black)
    black_on_white = 255 - white_on_black
    variants = {
        "black on white": black_on_white,
        "float 0..1": white_on_black / 255.0,
        "float 0..255": white_on_black.astype(np.float64),
        "uint16 0..255": white_on_black.astype(np.uint16),
        "RGB": np.stack([black_on_white] * 3, axis=-1),
        "(H, W, 1)": white_on_black[:, :, None],
    }
    for name, image in variants.items():
        np.testing.assert_allclose(preprocess_digit(image), expected, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("stroke", [(0, 0, 0), (255, 255, 255), (30, 90, 200)])
def test_rgba_canvas_transparent_background(stroke):
    # A web canvas: transparent everywhere except the strokes, in whatever colour.
    ink = draw_seven()
    rgba = np.zeros((*ink.shape, 4), dtype=np.uint8)
    rgba[..., :3] = stroke
    rgba[..., 3] = ink  # anti-aliased edges are partly transparent
    np.testing.assert_allclose(preprocess_digit(rgba), preprocess_digit(ink), atol=1e-5)


def test_opaque_rgba_is_read_by_colour():
    ink = draw_seven()
    rgba = np.full((*ink.shape, 4), 255, dtype=np.uint8)
    rgba[..., :3] = 255 - ink[..., None]  # black strokes on an opaque white canvas
    np.testing.assert_allclose(preprocess_digit(rgba), preprocess_digit(ink), atol=1e-5)


def test_faint_pencil_on_grey_paper_is_stretched_to_full_contrast():
    ink = draw_seven() / 255.0
    paper = 0.8 - 0.3 * ink  # grey strokes on light grey paper
    np.testing.assert_allclose(preprocess_digit(paper), preprocess_digit(ink), atol=1e-5)


@pytest.mark.parametrize(
    "blank",
    [
        np.zeros((280, 280), np.uint8),
        np.full((280, 280), 255, np.uint8),
        np.full((50, 60), 0.5),
        np.zeros((100, 100, 4), np.uint8),  # a fully transparent canvas
        np.full((28, 28), 10, np.uint8) + np.eye(28, dtype=np.uint8) * 5,  # below contrast
    ],
    ids=["black", "white", "grey", "transparent", "faint"],
)
def test_empty_canvas_raises_a_clear_error(blank):
    with pytest.raises(EmptyDrawingError, match="the drawing is empty"):
        preprocess_digit(blank)
    assert issubclass(EmptyDrawingError, ValueError)


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.array([[0.0, np.nan], [1.0, 0.0]]), "NaN or infinite"),
        (np.array([[0.0, np.inf], [1.0, 0.0]]), "NaN or infinite"),
        (np.zeros(784), r"expected a grayscale \(H, W\) or RGB\(A\)"),
        (np.zeros((28, 28, 2)), r"got shape \(28, 28, 2\)"),
        (np.zeros((0, 5)), "non-empty"),
        (np.array([["a", "b"]]), "numeric"),
        (-np.ones((5, 5)), "intensities >= 0"),
    ],
)
def test_bad_input_raises_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        preprocess_digit(bad)


def test_tiny_and_single_pixel_drawings_work():
    dot = np.zeros((50, 50), np.uint8)
    dot[10, 40] = 255
    x = preprocess_digit(dot)
    assert x.max() == pytest.approx(1.0) and x.sum() > 0
    line = np.zeros((30, 30))
    line[5:25, 14] = 1.0  # a thin '1'
    x = preprocess_digit(line)
    assert np.flatnonzero(x.max(axis=1) > 0.05).size == 20
    assert np.flatnonzero(x.max(axis=0) > 0.05).size <= 3


# -- augmentation -----------------------------------------------------------------------


def test_augment_is_deterministic_under_a_seed(mnist_small):
    images = mnist_small.train_x[:64]
    a, b = augment(images, 3), augment(images, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, augment(images, 4))
    assert a.shape == images.shape and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1


def test_augment_changes_images_but_keeps_them_digits(mnist_small):
    images = mnist_small.train_x[:200]
    out = augment(images, 0)
    original = images / 255.0
    changed = np.abs(out - original).reshape(200, -1).max(axis=1)
    assert np.mean(changed > 0.2) > 0.9  # nearly every image is visibly different
    # ... yet still the same digit, roughly where it was: strongly correlated on average.
    corr = [np.corrcoef(o.ravel(), x.ravel())[0, 1] for o, x in zip(out, original, strict=True)]
    assert np.mean(corr) > 0.6


def test_augment_with_no_variation_is_the_identity(mnist_small):
    images = mnist_small.train_x[:10]
    out = augment(
        images, 0, max_shift=0, max_rotation=0, scale=(1, 1), max_shear=0, thickness=(0, 0)
    )
    np.testing.assert_allclose(out, images / 255.0, atol=1e-6)


def test_augment_stroke_width(mnist_small):
    images = mnist_small.train_x[:20]
    still = {"max_shift": 0, "max_rotation": 0, "scale": (1, 1), "max_shear": 0}
    thick = augment(images, 0, thickness=(1, 1), **still)
    thin = augment(images, 0, thickness=(-1, -1), **still)
    ink = (images / 255.0).sum()
    assert thick.sum() > 1.3 * ink and thin.sum() < 0.7 * ink


def test_augment_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"expected images of shape \(m, H, W\)"):
        augment(np.zeros((28, 28)), 0)


def test_drawn_like_makes_canvases_that_preprocess_back_to_the_digit(mnist_small):
    images = mnist_small.test_x[:20]
    drawings = drawn_like(images, 0, canvas=120)
    assert len(drawings) == 20 and all(d.shape == (120, 120) for d in drawings)
    assert all(d.dtype == np.uint8 for d in drawings)
    backgrounds = {int(np.median(d)) for d in drawings}
    assert backgrounds == {0, 255}  # both polarities occur
    recovered = preprocess_digits(drawings)
    corr = [np.corrcoef(r.ravel(), x.ravel())[0, 1] for r, x in zip(recovered, images, strict=True)]
    assert np.median(corr) > 0.7
