"""The digit recipes: ``digits-mlp`` and ``digits-cnn``, the served handwritten-digit models.

Both train on ``mnist-small`` (the first 18,000 MNIST training images) and are evaluated
on the official 10,000-image test set, in three forms:

- ``test_accuracy``: the test set as it is;
- ``augmented_test_accuracy``: the test set through :func:`dlcore.digits.augment`
  (shifted, rotated, rescaled, thicker or thinner strokes; seed 0);
- ``drawn_test_accuracy``: :func:`dlcore.digits.drawn_like` pen drawings of the first
  2,000 test digits (random size, position, pen width and polarity, on a 200x200
  canvas) through :func:`dlcore.digits.preprocess_digit` — the serving path.

They are recorded in the model cards as a report; nothing is chosen by them (the worker's
default digit model is its ``WORKER_DEFAULT_DIGIT_MODEL`` setting).

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
from dlcore.layout import COLUMNS, IMAGES, input_layout, to_layout
from dlcore.model import Sequential
from dlcore.optim import Adam, exponential_decay
from dlcore.progress import progress_bar
from dlcore.recipes.base import RecipeResult

#: The model card's task: what the worker serves these models for.
TASK = "digits"
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
    "layout": COLUMNS,
    "shape": [784],
    "image_shape": [28, 28],
    "description": "(784, m): one column per 28x28 digit, flattened row by row "
    "(image.reshape(784, 1)), white ink on black, float32 in [0, 1]",
    "preprocessing": "dlcore.digits.preprocess_digit",
}
CNN_INPUT = {
    "layout": IMAGES,
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


def epoch_images(images: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """One epoch's training images: a random ``fraction`` replaced by augmented copies."""
    x = images.astype(np.float32) / 255
    chosen = np.flatnonzero(rng.random(len(x)) < fraction)
    if chosen.size:
        x[chosen] = augment(images[chosen], rng)
    return x


def digit_metrics(
    model: Sequential, to_input, data, seed: int = 0, progress: bool | None = False
) -> dict[str, float]:
    """Accuracy on train, test, augmented test and drawn test (see the module docstring).

    ``progress`` shows a bar over the four evaluations (:mod:`dlcore.progress`).
    """

    def accuracy(images, labels) -> float:
        predicted = model.predict(to_input(images), batch_size=1000)
        return float(np.mean(predicted == labels))

    def drawn_test():
        drawn = drawn_like(data.test_x[:DRAWN_TEST_EXAMPLES], seed)
        return preprocess_digits(drawn), data.test_y[:DRAWN_TEST_EXAMPLES]

    sets = {
        "train_accuracy": lambda: (data.train_x, data.train_y),
        "test_accuracy": lambda: (data.test_x, data.test_y),
        "augmented_test_accuracy": lambda: (augment(data.test_x, seed), data.test_y),
        "drawn_test_accuracy": drawn_test,
    }
    bar = progress_bar(sets.items(), progress=progress, desc="evaluating", unit="set")
    return {name: accuracy(*images_and_labels()) for name, images_and_labels in bar}


def train_digits(
    model: Sequential,
    to_input,
    epochs: int,
    seed: int,
    data: Any = None,
    progress: bool | None = False,
    augment_fraction: float = AUGMENT_FRACTION,
) -> tuple[dict[str, list[float]], float]:
    """Adam, mini-batches of ``BATCH_SIZE``, exponential lr decay, fresh augmentation per epoch.

    ``progress`` shows a bar over the epochs with the last epoch's cost
    (:mod:`dlcore.progress`). Returns the history (one entry per epoch) and the training
    time in seconds.
    """
    rng = np.random.default_rng(seed)
    optimizer = Adam(lr=LEARNING_RATE)
    schedule = exponential_decay(LEARNING_RATE, LR_DECAY)
    history: dict[str, list[float]] = {"cost": [], "accuracy": [], "lr": []}
    epoch_iter = progress_bar(range(epochs), progress=progress, desc="training", unit="epoch")
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
        epoch_iter.set_postfix(cost=f"{h['cost'][0]:.4f}", refresh=False)
    return history, time.perf_counter() - start


def _card(name: str, input_: dict, data, seed: int, epochs: int) -> dict[str, Any]:
    return {
        "name": name,
        "task": TASK,
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


def _run(name, build, input_, epochs, seed, progress, data) -> RecipeResult:
    if data is None:
        from dlcore.data import load_mnist  # the data store: only when training needs it

        data = load_mnist("mnist-small")
    seed = DIGITS_SEED if seed is None else seed
    model = build(seed)
    layout = input_layout(model)  # "columns" for the MLP, "images" for the CNN
    if input_["layout"] != layout:
        raise ValueError(f"{name}: the card says {input_['layout']}, the model takes {layout}")

    def to_input(images):
        return to_layout(images, layout)

    history, seconds = train_digits(model, to_input, epochs, seed, data, progress)
    metrics = digit_metrics(model, to_input, data, progress=progress)
    return RecipeResult(model, metrics, history, seconds, _card(name, input_, data, seed, epochs))


def train_digits_mlp(
    seed: int | None = None,
    progress: bool | None = False,
    data: Any = None,
    epochs: int = MLP_EPOCHS,
) -> RecipeResult:
    """Digits, dense: 784-256-128-10 on mnist-small with augmentation, Adam, 30 epochs."""
    return _run("digits-mlp", build_digits_mlp, MLP_INPUT, epochs, seed, progress, data)


def train_digits_cnn(
    seed: int | None = None,
    progress: bool | None = False,
    data: Any = None,
    epochs: int = CNN_EPOCHS,
) -> RecipeResult:
    """Digits, convolutional: 2x(conv-ReLU-pool), dense 128, softmax; Adam, 12 epochs."""
    return _run("digits-cnn", build_digits_cnn, CNN_INPUT, epochs, seed, progress, data)
