"""The digit recipes: ``digits-mlp`` and ``digits-cnn``, the served handwritten-digit models.

Both train on ``mnist-small`` (the first 18,000 MNIST training images) and are evaluated
on the official 10,000-image test set, in three forms:

- ``test_accuracy``: the test set as it is;
- ``augmented_test_accuracy``: the test set through :func:`dlcore.digits.augment`
  (shifted, rotated, rescaled, thicker or thinner strokes; seed 0);
- ``drawn_test_accuracy``: :func:`dlcore.digits.drawn_like` pen drawings of the first
  2,000 test digits (random size, position, pen width and polarity, on a 200x200
  canvas) through :func:`dlcore.digits.preprocess_digit` — the serving path.

Every epoch trains on a fresh draw: a random ``AUGMENT_FRACTION`` of the training images
is replaced by an augmented copy, so the network sees tidy MNIST digits and the untidy
variations people draw. ``python -m dlcore.train digits-cnn --seed N`` reproduces a model;
the notebooks call :func:`train_digits_mlp` / :func:`train_digits_cnn` directly.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dlcore.conv import Conv2D, Flatten, MaxPool2D
from dlcore.digits import augment, drawn_like, preprocess_digits
from dlcore.layers import Dense, Dropout, ReLU
from dlcore.model import Sequential
from dlcore.optim import Adam, exponential_decay
from dlcore.recipes import RecipeResult, register_recipe

DIGITS_SEED = 0
AUGMENT_FRACTION = 0.5  #: share of training images replaced by augmented copies each epoch
DRAWN_TEST_EXAMPLES = 2000

MLP_LAYER_DIMS = (784, 256, 128, 10)
MLP_EPOCHS = 30
CNN_EPOCHS = 12
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
LR_DECAY = 0.9  #: lr = LEARNING_RATE * LR_DECAY**epoch

MLP_INPUT = {
    "layout": "columns",
    "shape": [784],
    "image_shape": [28, 28],
    "description": "(784, m): one column per 28x28 digit, flattened row by row "
    "(image.reshape(784, 1)), white ink on black, float32 in [0, 1]",
    "preprocessing": "dlcore.digits.preprocess_digit",
}
CNN_INPUT = {
    "layout": "images",
    "shape": [1, 28, 28],
    "image_shape": [28, 28],
    "description": "(m, 1, 28, 28): images with one channel (image[None, None]), "
    "white ink on black, float32 in [0, 1]",
    "preprocessing": "dlcore.digits.preprocess_digit",
}


def build_digits_mlp(seed: int | np.random.Generator | None = DIGITS_SEED, dtype=np.float32):
    """784-256-128-10: two ReLU layers (He init), a softmax over the ten digits."""
    rng = np.random.default_rng(seed)
    n = MLP_LAYER_DIMS
    return Sequential(
        [
            Dense(n[0], n[1], rng=rng, dtype=dtype),
            Dense(n[1], n[2], rng=rng, dtype=dtype),
            Dense(n[2], n[3], activation="softmax", rng=rng, dtype=dtype),
        ],
        loss="categorical_cross_entropy",
    )


def build_digits_cnn(seed: int | np.random.Generator | None = DIGITS_SEED, dtype=np.float32):
    """Two conv-ReLU-pool blocks, a dense ReLU layer and a softmax; input ``(m, 1, 28, 28)``.

    ``(m, 1, 28, 28)`` -conv 3x3, 16 filters, pad 1-> ``(m, 16, 28, 28)`` -pool 2->
    ``(m, 16, 14, 14)`` -conv 3x3, 32 filters, pad 1-> ``(m, 32, 14, 14)`` -pool 2->
    ``(m, 32, 7, 7)`` -flatten-> ``(1568, m)`` -dense-> ``(128, m)`` -dense-> ``(10, m)``.
    """
    rng = np.random.default_rng(seed)
    return Sequential(
        [
            Conv2D(1, 16, 3, padding=1, rng=rng, dtype=dtype),
            ReLU(),
            MaxPool2D(2),
            Conv2D(16, 32, 3, padding=1, rng=rng, dtype=dtype),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dense(32 * 7 * 7, 128, rng=rng, dtype=dtype),
            Dropout(0.75, rng=rng),
            Dense(128, 10, activation="softmax", rng=rng, dtype=dtype),
        ],
        loss="categorical_cross_entropy",
    )


def as_columns(images: np.ndarray) -> np.ndarray:
    """``(m, 28, 28)`` in [0, 1] (or uint8) -> ``(784, m)`` float32 for the dense model."""
    x = np.asarray(images)
    x = x.astype(np.float32) / (255 if x.dtype.kind in "iu" else 1)
    return x.reshape(x.shape[0], -1).T


def as_images(images: np.ndarray) -> np.ndarray:
    """``(m, 28, 28)`` in [0, 1] (or uint8) -> ``(m, 1, 28, 28)`` float32 for the CNN."""
    x = np.asarray(images)
    x = x.astype(np.float32) / (255 if x.dtype.kind in "iu" else 1)
    return x[:, None]


def epoch_images(images: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """One epoch's training images: a random ``fraction`` replaced by augmented copies."""
    x = images.astype(np.float32) / 255
    chosen = np.flatnonzero(rng.random(len(x)) < fraction)
    if chosen.size:
        x[chosen] = augment(images[chosen], rng)
    return x


def digit_metrics(model: Sequential, to_input, data, seed: int = 0) -> dict[str, float]:
    """Accuracy on train, test, augmented test and drawn test (see the module docstring)."""

    def accuracy(images, labels) -> float:
        predicted = model.predict(to_input(images), batch_size=1000)
        return float(np.mean(predicted == labels))

    drawn = drawn_like(data.test_x[:DRAWN_TEST_EXAMPLES], seed)
    return {
        "train_accuracy": accuracy(data.train_x, data.train_y),
        "test_accuracy": accuracy(data.test_x, data.test_y),
        "augmented_test_accuracy": accuracy(augment(data.test_x, seed), data.test_y),
        "drawn_test_accuracy": accuracy(
            preprocess_digits(drawn), data.test_y[:DRAWN_TEST_EXAMPLES]
        ),
    }


def train_digits(
    model: Sequential,
    to_input,
    epochs: int,
    seed: int,
    data: Any = None,
    progress: bool = False,
    augment_fraction: float = AUGMENT_FRACTION,
) -> tuple[dict[str, list[float]], float]:
    """Adam, mini-batches of ``BATCH_SIZE``, exponential lr decay, fresh augmentation per epoch.

    Returns the history (one entry per epoch) and the training time in seconds.
    """
    rng = np.random.default_rng(seed)
    optimizer = Adam(lr=LEARNING_RATE)
    schedule = exponential_decay(LEARNING_RATE, LR_DECAY)
    history: dict[str, list[float]] = {"cost": [], "accuracy": [], "lr": []}
    epoch_iter: Any = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_iter = tqdm(epoch_iter, desc="training", unit="epoch")
    start = time.perf_counter()
    for epoch in epoch_iter:
        X = to_input(epoch_images(data.train_x, rng, augment_fraction))
        optimizer.lr = schedule(epoch)
        h = model.fit(
            X, data.train_y, epochs=1, optimizer=optimizer, batch_size=BATCH_SIZE, rng=rng,
            log_every=0,
        )
        for key in history:
            history[key] += h[key]
        if progress:
            epoch_iter.set_postfix(cost=f"{h['cost'][0]:.4f}", refresh=False)
    return history, time.perf_counter() - start


def _card(name: str, input_: dict, data, seed: int, epochs: int) -> dict[str, Any]:
    return {
        "name": name,
        "task": "digits",
        "input": input_,
        "classes": list(data.classes),
        "dataset": {
            "name": "mnist-small",
            "train_examples": int(len(data.train_x)),
            "test_set": "the official MNIST test set",
            "test_examples": int(len(data.test_x)),
        },
        "training": {
            "recipe": name,
            "seed": seed,
            "optimizer": "adam",
            "learning_rate": LEARNING_RATE,
            "lr_schedule": f"exponential decay, x{LR_DECAY} per epoch",
            "epochs": epochs,
            "batch_size": BATCH_SIZE,
            "augmentation": f"{AUGMENT_FRACTION:.0%} of images per epoch through "
            "dlcore.digits.augment",
        },
    }


def _run(name, build, to_input, input_, epochs, seed, progress, data) -> RecipeResult:
    from dlcore.data import load_mnist

    seed = DIGITS_SEED if seed is None else seed
    data = data if data is not None else load_mnist("mnist-small")
    model = build(seed)
    history, seconds = train_digits(model, to_input, epochs, seed, data, progress)
    metrics = digit_metrics(model, to_input, data)
    return RecipeResult(model, metrics, history, seconds, _card(name, input_, data, seed, epochs))


@register_recipe("digits-mlp")
def train_digits_mlp(
    seed: int | None = None, progress: bool = False, data: Any = None, epochs: int = MLP_EPOCHS
) -> RecipeResult:
    """Digits, dense: 784-256-128-10 on mnist-small with augmentation, Adam, 30 epochs."""
    return _run(
        "digits-mlp", build_digits_mlp, as_columns, MLP_INPUT, epochs, seed, progress, data
    )


@register_recipe("digits-cnn")
def train_digits_cnn(
    seed: int | None = None, progress: bool = False, data: Any = None, epochs: int = CNN_EPOCHS
) -> RecipeResult:
    """Digits, convolutional: 2x(conv-ReLU-pool), dense 128, softmax; Adam, 12 epochs."""
    return _run(
        "digits-cnn", build_digits_cnn, as_images, CNN_INPUT, epochs, seed, progress, data
    )
