"""Kept only so that old imports keep working (``from dlcore.digit_recipes import ...``).

The digit recipes live in :mod:`dlcore.recipes.digits`, the layout conversions
``as_columns`` / ``as_images`` in :mod:`dlcore.layout`; import them from there.
"""

from dlcore.layout import as_columns, as_images
from dlcore.recipes.digits import (
    AUGMENT_FRACTION,
    BATCH_SIZE,
    CNN_EPOCHS,
    CNN_INPUT,
    DIGITS_SEED,
    DRAWN_TEST_EXAMPLES,
    LEARNING_RATE,
    LR_DECAY,
    MLP_EPOCHS,
    MLP_INPUT,
    MLP_LAYER_DIMS,
    build_digits_cnn,
    build_digits_mlp,
    digit_metrics,
    epoch_images,
    train_digits,
    train_digits_cnn,
    train_digits_mlp,
)

__all__ = [
    "AUGMENT_FRACTION",
    "BATCH_SIZE",
    "CNN_EPOCHS",
    "CNN_INPUT",
    "DIGITS_SEED",
    "DRAWN_TEST_EXAMPLES",
    "LEARNING_RATE",
    "LR_DECAY",
    "MLP_EPOCHS",
    "MLP_INPUT",
    "MLP_LAYER_DIMS",
    "as_columns",
    "as_images",
    "build_digits_cnn",
    "build_digits_mlp",
    "digit_metrics",
    "epoch_images",
    "train_digits",
    "train_digits_cnn",
    "train_digits_mlp",
]
