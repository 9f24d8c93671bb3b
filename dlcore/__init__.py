"""dlcore — the NumPy deep-learning core of the simpledl course.

Dense layers follow the course's equations with examples as columns
(``X: (n_x, m)``, ``Z = W @ A_prev + b``); convolutional layers take images as
``(m, C, H, W)``; :mod:`dlcore.layout` converts between them. The data sets live in
:mod:`dlcore.data`.

    >>> from dlcore import Dense, Sequential, GradientDescent
    >>> model = Sequential([Dense(12288, 20), Dense(20, 1, activation="sigmoid")])
    >>> history = model.fit(X, Y, epochs=100, optimizer=GradientDescent(lr=0.0075))

Modules: :mod:`~dlcore.activations`, :mod:`~dlcore.layers`, :mod:`~dlcore.losses`,
:mod:`~dlcore.init`, :mod:`~dlcore.optim`, :mod:`~dlcore.model`, :mod:`~dlcore.conv`
(convolution and pooling), :mod:`~dlcore.layout` (columns and images: ``flatten_images``,
``one_hot``, a model's input layout), :mod:`~dlcore.digits` (digit preprocessing and
augmentation), :mod:`~dlcore.gradcheck`, :mod:`~dlcore.io` (model files),
:mod:`~dlcore.progress` (the progress bar of long work), :mod:`~dlcore.recipes` (the
trained models of the course, one module per task; ``python -m dlcore.train NAME``).
"""

# Importing the layer modules registers their layer types for load_model.
from dlcore.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D
from dlcore.gradcheck import GradcheckReport, check_layer, check_model
from dlcore.io import ModelFileError, load_model, read_card, save_model
from dlcore.layers import (
    Dense,
    Dropout,
    Layer,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    register_layer,
)
from dlcore.losses import BinaryCrossEntropy, CategoricalCrossEntropy
from dlcore.model import Sequential, TrainingDivergedError
from dlcore.optim import (
    Adam,
    GradientDescent,
    Momentum,
    RMSProp,
    exponential_decay,
    minibatches,
    time_decay,
)
from dlcore.version import __version__

__all__ = [
    "Adam",
    "AvgPool2D",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GradcheckReport",
    "GradientDescent",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "ModelFileError",
    "Momentum",
    "RMSProp",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TrainingDivergedError",
    "__version__",
    "check_layer",
    "check_model",
    "exponential_decay",
    "load_model",
    "minibatches",
    "read_card",
    "register_layer",
    "save_model",
    "time_decay",
]
