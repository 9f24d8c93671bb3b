"""Layers: Dense, Dropout and the activation layers, on one small base class.

Taught in notebooks/03-deep-network-step-by-step.ipynb (its "Rebuilding dlcore" section builds
Dense and Sequential from the learner's functions) and
notebooks/05-initialisation-regularisation-gradient-checking.ipynb (dropout).

Every layer has the same face, so one model, one optimiser and one gradient check work
on any of them:

- ``forward(A_prev, training=False) -> A`` caches what ``backward`` needs;
- ``backward(dA, input_grad=True) -> dA_prev`` stores parameter gradients in ``grads``
  and returns the gradient for the layer's input (``None`` when ``input_grad=False``:
  the first layer of a model needs no ``dA_prev``, and skipping it saves a third of
  that layer's work);
- ``params`` and ``grads`` are dicts with the *same keys* (``{"W": ..., "b": ...}``);
- ``config()`` returns the JSON-able constructor arguments; ``from_config`` rebuilds the
  layer from them, and :func:`register_layer` makes a layer type known to model files.

Gradient convention (the course's): ``dA`` and ``dZ`` are per-example derivatives of the
loss ``L(i)``; the cost is ``J = (1/m) sum_i L(i)``, so a layer with parameters divides by
``m`` when it forms ``grads`` (``dW = dZ A_prev.T / m``), and ``grads`` hold ``dJ/dparam``.

Shapes: dense layers take examples as columns, ``A_prev: (n_prev, m)``; activation and
dropout layers work on any shape (image tensors are ``(m, C, H, W)``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from dlcore.activations import get_activation
from dlcore.init import SeedLike, as_generator, initialize

LAYER_TYPES: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a layer type known to model files under its class name."""
    LAYER_TYPES[cls.__name__] = cls
    return cls


def layer_to_spec(layer: Layer) -> dict[str, Any]:
    """``{"type": "Dense", "config": {...}}`` — how a layer is written into a model card."""
    return {"type": type(layer).__name__, "config": layer.config()}


def layer_from_spec(spec: dict[str, Any]) -> Layer:
    """Rebuild a layer from :func:`layer_to_spec` output; ValueError for unknown types."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"a layer spec must be a dict with 'type' and 'config', got {spec!r}")
    cls = LAYER_TYPES.get(spec["type"])
    if cls is None:
        raise ValueError(
            f"unknown layer type {spec['type']!r}; known types: {', '.join(sorted(LAYER_TYPES))}"
        )
    return cls.from_config(dict(spec.get("config", {})))


class Layer:
    """Base class: no parameters, identity forward and backward."""

    #: the axis of this layer's input that holds the examples: -1 for dense ``(n, m)``,
    #: 0 for image tensors ``(m, C, H, W)``. A model reads it from its first layer.
    batch_axis: ClassVar[int] = -1

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: the shape of the last forward's output; ``None`` until forward has run.
        self.out_shape: tuple[int, ...] | None = None

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        return A_prev

    def backward(self, dA: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return dA if input_grad else None

    def config(self) -> dict[str, Any]:
        return {}

    def _check_backward(self, grad: np.ndarray, name: str = "dA") -> None:
        """What every backward checks first: forward has run, and ``grad`` has the shape
        of forward's output."""
        if self.out_shape is None:
            raise RuntimeError(f"{self!r}: backward called before forward")
        if grad.shape != self.out_shape:
            raise ValueError(
                f"{self!r}: expected {name} of shape {self.out_shape}, got {grad.shape}"
            )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


@register_layer
class Dense(Layer):
    """A fully connected layer: ``Z = W A_prev + b``, ``A = g(Z)``.

    ``Dense(12288, 20, activation="relu")`` is the cat network's first layer: ``W`` is
    ``(20, 12288)``, ``b`` is ``(20, 1)``; ``A_prev: (12288, m) -> A: (20, m)``.

    Args:
        n_in: ``n[l-1]``, the number of input features.
        n_out: ``n[l]``, the number of units.
        activation: ``"relu"``, ``"leaky_relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"`` or
            ``None`` (linear).
        init: weight initialiser, see :mod:`dlcore.init` (``"he"``, ``"xavier"``,
            ``"random"``, ``"zeros"``); ``b`` starts at zero.
        rng: seed or Generator for the initial weights.
        dtype: parameter dtype (float32 or float64); inputs should match it.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str | None = "relu",
        init: str = "he",
        rng: SeedLike = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if int(n_in) < 1 or int(n_out) < 1:
            raise ValueError(f"Dense needs n_in >= 1 and n_out >= 1, got {n_in} and {n_out}")
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.g = get_activation(activation)
        self.activation, self.init, self.dtype = activation, init, np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"Dense dtype must be float32 or float64, got {self.dtype}")
        self.params = {
            "W": initialize(init, (self.n_out, self.n_in), as_generator(rng), self.dtype),
            "b": np.zeros((self.n_out, 1), dtype=self.dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        """``A_prev: (n_in, m) -> A: (n_out, m)``."""
        if A_prev.ndim != 2 or A_prev.shape[0] != self.n_in:
            raise ValueError(
                f"{self!r}: expected A_prev of shape ({self.n_in}, m), got {A_prev.shape}"
            )
        W, b = self.params["W"], self.params["b"]
        # Z = W A_prev + b. The product is evaluated as (A_prev.T W.T).T, the same numbers:
        # models store examples contiguously (A_prev column-major) and BLAS runs this
        # orientation faster; Z then keeps that layout for the next layer.
        Z = (A_prev.T @ W.T).T
        Z += b
        A = self.g.forward(Z)
        self.A_prev, self.A, self.out_shape = A_prev, A, A.shape
        return A

    def backward(self, dA: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dA: (n_out, m) -> dA_prev: (n_in, m)``; fills ``grads["W"]``, ``grads["b"]``."""
        self._check_backward(dA)
        return self.backward_dZ(self.g.backward(dA, self.A), input_grad)

    def backward_dZ(self, dZ: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backward from ``dZ`` directly — the model's entry for the fused ``dZ = A - Y``."""
        self._check_backward(dZ, "dZ")
        A_prev, W = self.A_prev, self.params["W"]
        m = A_prev.shape[1]
        dW, db = self.grads["W"], self.grads["b"]
        np.matmul(dZ, A_prev.T, out=dW)  # dW = dZ A_prev.T / m, written in place
        dW /= m
        np.sum(dZ, axis=1, keepdims=True, out=db)  # db = sum(dZ, axis=1) / m
        db /= m
        if not input_grad:
            return None
        # dA_prev = W.T dZ, evaluated as (dZ.T W).T so that it comes out column-major like
        # the cached activations it meets in the previous layer's backward (mixed memory
        # layouts make those elementwise products several times slower).
        return (dZ.T @ W).T

    def config(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": self.activation,
            "init": self.init,
            "dtype": self.dtype.name,
        }


@register_layer
class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability ``keep_prob`` and
    scale the survivors by ``1 / keep_prob`` so the expected activation is unchanged;
    outside training it is the identity. Works on any shape.
    """

    def __init__(self, keep_prob: float = 0.8, rng: SeedLike = None) -> None:
        super().__init__()
        if not 0 < keep_prob <= 1:
            raise ValueError(f"Dropout keep_prob must be in (0, 1], got {keep_prob}")
        self.keep_prob = float(keep_prob)
        self.rng = as_generator(rng)
        self.D: np.ndarray | None = None

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        self.out_shape = A_prev.shape
        if not training or self.keep_prob == 1:
            self.D = None
            return A_prev
        self.D = self.rng.random(A_prev.shape, dtype=np.float64) < self.keep_prob
        return A_prev * self.D / np.asarray(self.keep_prob, dtype=A_prev.dtype)

    def backward(self, dA: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        self._check_backward(dA)
        if self.D is None:
            return dA
        return dA * self.D / np.asarray(self.keep_prob, dtype=dA.dtype)

    def config(self) -> dict[str, Any]:
        return {"keep_prob": self.keep_prob}


class ActivationLayer(Layer):
    """An activation on its own, ``A = g(Z)`` elementwise on any shape (softmax: axis 0)."""

    activation: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.g = get_activation(self.activation)

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        self.A = self.g.forward(A_prev)
        self.out_shape = self.A.shape
        return self.A

    def backward(self, dA: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        self._check_backward(dA)
        return self.g.backward(dA, self.A)


@register_layer
class ReLU(ActivationLayer):
    activation = "relu"


@register_layer
class LeakyReLU(ActivationLayer):
    """``max(Z, 0.01 Z)`` — the slope is fixed at ``activations.LEAKY_RELU_SLOPE``."""

    activation = "leaky_relu"


@register_layer
class Sigmoid(ActivationLayer):
    activation = "sigmoid"


@register_layer
class Tanh(ActivationLayer):
    activation = "tanh"


@register_layer
class Softmax(ActivationLayer):
    """Softmax over axis 0 (the classes, in the dense convention ``(C, m)``)."""

    activation = "softmax"
