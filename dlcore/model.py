"""Sequential: a stack of layers trained on one loss — the course's L-layer model.

Taught in notebooks/03-deep-network-step-by-step.ipynb (the L-layer model, and the "Rebuilding
dlcore" section that turns the learner's functions into this class).

    model = Sequential([Dense(12288, 20), Dense(20, 7), Dense(7, 5),
                        Dense(5, 1, activation="sigmoid")], loss="binary_cross_entropy")
    history = model.fit(X, Y, epochs=2500, optimizer=GradientDescent(lr=0.0075))

One training iteration is the course's loop: ``forward`` (``A[L]``), ``cost``, ``backward``
(all gradients) and ``step`` (the optimiser's update). Shapes:

- ``X``: ``(n_x, m)`` for dense models (examples are columns), or whatever the first layer
  takes — image tensors ``(m, C, H, W)`` for convolutional models; the first layer's
  ``batch_axis`` says where the examples are.
- ``Y``: ``(1, m)`` of 0/1 for ``binary_cross_entropy``; one-hot ``(C, m)`` (or integer
  labels ``(m,)``, converted for you) for ``categorical_cross_entropy``.

The output gradient is fused: when the last activation is the loss's natural partner
(sigmoid with binary, softmax with categorical cross-entropy) backprop starts from
``dZ[L] = A[L] - Y`` (see :mod:`dlcore.losses`). L2 regularisation adds
``(l2 / 2m) sum ||W||^2`` to the cost and ``(l2 / m) W`` to every ``dW`` (every parameter
named ``W``). Nothing here prints; ``fit`` logs through :mod:`logging`, draws a progress
bar on stderr only when asked (:mod:`dlcore.progress`) and returns a history.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from dlcore.init import SeedLike, as_generator
from dlcore.layers import ActivationLayer, Dense, Layer
from dlcore.layout import COLUMNS, input_layout, one_hot
from dlcore.losses import Loss, get_loss
from dlcore.optim import GradientDescent, Optimizer, minibatches
from dlcore.progress import progress_bar

log = logging.getLogger(__name__)


class TrainingDivergedError(FloatingPointError):
    """The cost became NaN or infinite during ``fit``."""


class Sequential:
    """Layers applied in order, with a loss for training.

    Args:
        layers: the layers, input first.
        loss: ``"binary_cross_entropy"`` (output ``(1, m)``) or
            ``"categorical_cross_entropy"`` (output ``(C, m)``), or a :class:`Loss`.
    """

    def __init__(self, layers: Sequence[Layer], loss: str | Loss = "binary_cross_entropy"):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Sequential needs at least one layer")
        self.loss = get_loss(loss)

    # -- the pieces of one iteration -------------------------------------------------------

    @property
    def batch_axis(self) -> int:
        """The axis of ``X`` holding the examples (from the first layer)."""
        return self.layers[0].batch_axis

    @property
    def layout(self) -> str:
        """``"columns"`` (``X: (n_x, m)``) or ``"images"`` (``X: (m, C, H, W)``); see
        :mod:`dlcore.layout`."""
        return input_layout(self)

    @property
    def dtype(self) -> np.dtype:
        """The parameter dtype (float32 or float64); inputs are cast to it."""
        for layer in self.layers:
            for p in layer.params.values():
                return p.dtype
        return np.dtype(np.float64)

    def prepare(self, X: np.ndarray) -> np.ndarray:
        """``X`` as the model's dtype, examples stored contiguously (a no-op if already so)."""
        X = np.asarray(X)
        if X.ndim == 2 and self.layout == COLUMNS:
            return np.asfortranarray(X, dtype=self.dtype)
        return np.ascontiguousarray(X, dtype=self.dtype)

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """``A[L]`` for input ``X`` (cast to the model's dtype); caches for ``backward``."""
        A = self.prepare(X)
        for i, layer in enumerate(self.layers):
            try:
                A = layer.forward(A, training=training)
            except ValueError as e:
                raise ValueError(f"layer {i}: {e}") from e
        return A

    def cost(self, A: np.ndarray, Y: np.ndarray, l2: float = 0.0) -> float:
        """The loss of output ``A`` against ``Y``, plus ``(l2 / 2m) sum ||W||^2``."""
        J = self.loss.loss(A, Y)
        if l2:
            m = Y.shape[-1]
            J += l2 / (2 * m) * sum(float(np.sum(W * W)) for W in self._weights())
        return J

    def backward(
        self, Y: np.ndarray, l2: float = 0.0, input_grad: bool = False
    ) -> np.ndarray | None:
        """Fill every layer's ``grads`` from the last ``forward``; return ``dX`` if asked.

        Args:
            Y: targets, the shape of the output ``A[L]``.
            l2: L2 regularisation strength (``lambda``).
            input_grad: also compute and return ``dX``, the gradient of the per-example
                loss with respect to the input (a saliency map has this shape); off by
                default because training does not need it.
        """
        layers = self.layers
        A = getattr(layers[-1], "A", None)
        if A is None:
            raise RuntimeError("backward called before forward")
        Y = self._targets(Y, A)
        last = layers[-1]
        fused = self.loss.fused_activation
        if isinstance(last, Dense) and last.activation == fused:
            dA = last.backward_dZ(self.loss.fused_grad(A, Y), input_grad or len(layers) > 1)
            rest = layers[:-1]
        elif isinstance(last, ActivationLayer) and last.activation == fused:
            dA, rest = self.loss.fused_grad(A, Y), layers[:-1]
        else:
            dA, rest = self.loss.grad(A, Y), layers
        for i in range(len(rest) - 1, -1, -1):
            dA = rest[i].backward(dA, input_grad=input_grad or i > 0)
        if l2:
            m = Y.shape[-1]
            for layer in layers:
                if "W" in layer.params:
                    layer.grads["W"] += (l2 / m) * layer.params["W"]
        return dA if input_grad else None

    def input_gradient(
        self, X: np.ndarray, class_index: int | np.ndarray | None = None, score: str = "logit"
    ) -> np.ndarray:
        """A saliency map: the gradient of one class score with respect to the input.

        For each example ``i``, ``dX[i] = d score[k_i, i] / d X[i]`` (same shape as ``X``):
        which input pixels, nudged, would raise or lower the score of class ``k_i`` most.
        Runs in inference mode (no dropout); overwrites the layers' ``grads``.

        Args:
            X: inputs, as for :meth:`predict`.
            class_index: the class ``k`` — one int for all examples, ``(m,)`` ints, or
                ``None`` for each example's predicted class.
            score: ``"logit"`` (default): the output layer's ``Z[L][k]`` before the
                softmax/sigmoid, which the other classes do not affect; or
                ``"probability"``: ``A[L][k]`` after it.
        """
        if score not in ("logit", "probability"):
            raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
        A = self.forward(X)
        n_out, m = A.shape
        k = np.argmax(A, axis=0) if class_index is None else np.asarray(class_index)
        k = np.broadcast_to(k, (m,))
        if k.dtype.kind not in "iu" or k.min(initial=0) < 0 or k.max(initial=0) >= n_out:
            raise ValueError(f"class_index must be integers in [0, {n_out}), got {class_index!r}")
        dS = np.zeros_like(A)
        dS[k, np.arange(m)] = 1  # d score / d A[L] (or d Z[L]): one-hot per example
        layers, last = self.layers, self.layers[-1]
        if score == "logit" and isinstance(last, Dense) and last.activation is not None:
            dS, layers = last.backward_dZ(dS), layers[:-1]
        elif score == "logit" and isinstance(last, ActivationLayer):
            layers = layers[:-1]
        for layer in reversed(layers):
            dS = layer.backward(dS)
        return dS

    def step(self, optimizer: Optimizer) -> None:
        """Apply one optimiser update to every parameter."""
        optimizer.step(self.layers)

    # -- training and inference ------------------------------------------------------------

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        epochs: int = 1,
        optimizer: Optimizer | None = None,
        batch_size: int | None = None,
        l2: float = 0.0,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        rng: SeedLike = None,
        progress: bool | None = False,
        lr_schedule: Callable[[int], float] | None = None,
        log_every: int = 100,
    ) -> dict[str, list[float]]:
        """Train; return the history (one entry per epoch).

        Args:
            X, Y: training inputs and targets (see the module docstring for shapes).
            epochs: passes over the data; with ``batch_size=None`` an epoch is one
                full-batch gradient step (the cat network takes 2,500 of them).
            optimizer: defaults to ``GradientDescent(lr=0.0075)``.
            batch_size: mini-batch size, reshuffled every epoch; ``None`` = full batch.
            l2: L2 regularisation strength ``lambda``.
            validation_data: ``(X_val, Y_val)`` evaluated after every epoch.
            rng: seed or Generator for the mini-batch shuffling (dropout layers draw
                their masks from their own ``rng``).
            progress: a progress bar over the epochs (:mod:`dlcore.progress`): ``True``
                show it, ``False`` not, ``None`` only when stderr is a terminal.
            lr_schedule: ``epoch -> lr``, applied at the start of each epoch
                (see :func:`dlcore.optim.time_decay`).
            log_every: log the cost at INFO level every this many epochs.

        Returns:
            ``{"cost": [...], "accuracy": [...], "lr": [...]}`` plus ``"val_cost"`` and
            ``"val_accuracy"`` with validation data. ``cost`` and ``accuracy`` are the
            averages over the epoch's mini-batches, measured in the forward pass before
            each update (so they cost nothing extra; with dropout they are training-mode).

        Raises:
            TrainingDivergedError: the cost became NaN or infinite (the message names the
                epoch and iteration; try a smaller learning rate).
        """
        optimizer = optimizer if optimizer is not None else GradientDescent(lr=0.0075)
        rng = as_generator(rng)
        X = self.prepare(X)
        Y = self._targets(Y, None, X.shape[self.batch_axis])
        history: dict[str, list[float]] = {"cost": [], "accuracy": [], "lr": []}
        if validation_data is not None:
            X_val, Y_val = validation_data
            X_val = self.prepare(X_val)
            history.update(val_cost=[], val_accuracy=[])
        epoch_iter = progress_bar(range(epochs), progress=progress, desc="training", unit="epoch")
        for epoch in epoch_iter:
            if lr_schedule is not None:
                optimizer.lr = float(lr_schedule(epoch))
            total_cost = total_correct = 0.0
            for it, (X_b, Y_b) in enumerate(
                minibatches(X, Y, batch_size, rng, x_batch_axis=self.batch_axis)
            ):
                A = self.forward(X_b, training=True)
                J = self.cost(A, Y_b, l2)
                if not math.isfinite(J):
                    raise TrainingDivergedError(
                        f"cost became {J} at epoch {epoch}, iteration {it} (optimizer step "
                        f"{optimizer.t + 1}, lr={optimizer.lr:g}); try a smaller learning "
                        "rate or check the inputs for NaN/inf"
                    )
                self.backward(Y_b, l2)
                self.step(optimizer)
                m_b = Y_b.shape[-1]
                total_cost += J * m_b
                total_correct += float(np.sum(self._labels(A) == self._labels(Y_b)))
            m = Y.shape[-1]
            history["cost"].append(total_cost / m)
            history["accuracy"].append(total_correct / m)
            history["lr"].append(optimizer.lr)
            if validation_data is not None:
                scores = self.evaluate(X_val, Y_val)
                history["val_cost"].append(scores["cost"])
                history["val_accuracy"].append(scores["accuracy"])
            epoch_iter.set_postfix(cost=f"{history['cost'][-1]:.4f}", refresh=False)
            if log_every and (epoch % log_every == 0 or epoch == epochs - 1):
                log.info("epoch %d: cost %.6f", epoch, history["cost"][-1])
        return history

    def predict_proba(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """The output activations ``A[L]``: ``(1, m)`` sigmoid or ``(C, m)`` softmax."""
        X = self.prepare(X)
        if batch_size is None:
            return self.forward(X)
        m = X.shape[self.batch_axis]
        parts = []
        for start in range(0, m, batch_size):
            idx = slice(start, start + batch_size)
            part = X[:, idx] if self.layout == COLUMNS else X[idx]
            parts.append(self.forward(part))
        return np.concatenate(parts, axis=-1)

    def predict(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Integer labels ``(m,)``: ``A > 0.5`` for one output unit, else argmax over classes."""
        return self._labels(self.predict_proba(X, batch_size))

    def evaluate(self, X: np.ndarray, Y: np.ndarray, l2: float = 0.0) -> dict[str, float]:
        """``{"cost": J, "accuracy": fraction correct}`` of the model on ``(X, Y)``."""
        A = self.forward(X)
        Y = self._targets(Y, A)
        accuracy = float(np.mean(self._labels(A) == self._labels(Y)))
        return {"cost": self.cost(A, Y, l2), "accuracy": accuracy}

    # -- helpers -----------------------------------------------------------------------------

    def _weights(self):
        return [layer.params["W"] for layer in self.layers if "W" in layer.params]

    @staticmethod
    def _labels(A: np.ndarray) -> np.ndarray:
        if A.shape[0] == 1:
            return (A[0] > 0.5).astype(np.int64)
        return np.argmax(A, axis=0)

    def _targets(self, Y: np.ndarray, A: np.ndarray | None, m: int | None = None) -> np.ndarray:
        """Y as a float array shaped like the output: integer labels ``(m,)`` become one-hot
        for categorical models, ``(1, m)`` for binary ones."""
        Y = np.asarray(Y)
        if Y.ndim == 1:
            if self.loss.name == "categorical_cross_entropy":
                n_out = A.shape[0] if A is not None else self._n_out()
                if Y.dtype.kind not in "iu" or Y.min(initial=0) < 0 or Y.max(initial=0) >= n_out:
                    raise ValueError(
                        f"integer labels must be in [0, {n_out}) for {n_out} classes, "
                        f"got {Y.dtype} labels in [{Y.min()}, {Y.max()}]"
                    )
                Y = one_hot(Y, n_out, dtype=self.dtype)
            else:
                Y = Y.reshape(1, -1)
        Y = Y.astype(self.dtype, copy=False)
        if m is not None and Y.shape[-1] != m:
            raise ValueError(f"X has {m} examples but Y has {Y.shape[-1]} (Y is {Y.shape})")
        if A is not None and Y.shape != A.shape:
            raise ValueError(f"expected Y of shape {A.shape} like the output, got {Y.shape}")
        return Y

    def _n_out(self) -> int:
        for layer in reversed(self.layers):
            if isinstance(layer, Dense):
                return layer.n_out
        raise ValueError("cannot infer the number of classes; pass one-hot Y of shape (C, m)")

    def __repr__(self) -> str:
        inner = "".join(f"\n  {layer!r}," for layer in self.layers)
        return f"Sequential([{inner}\n], loss={self.loss.name!r})"
