"""Optimisers, learning-rate schedules and the shuffled mini-batch iterator.

Taught in notebooks/06-optimisation.ipynb (mini-batches, momentum, RMSProp, Adam, decay).

An optimiser sees only ``(param, grad)`` pairs — the ``params``/``grads`` dicts of each
layer, which share keys — and updates each ``param`` *in place* with per-parameter state
(the course's ``v``, ``s``). ``step(layers)`` walks every layer; ``update(param, grad,
slot)`` is the rule for one array. The course page on optimisation derives each rule:

- gradient descent:  ``W -= lr * dW``
- momentum:          ``v = beta v + (1 - beta) dW;  W -= lr * v``
- RMSProp:           ``s = beta2 s + (1 - beta2) dW**2;  W -= lr * dW / (sqrt(s) + eps)``
- Adam:              both, with bias correction ``v / (1 - beta1**t)``, ``s / (1 - beta2**t)``
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator

import numpy as np

from dlcore.init import SeedLike, as_generator


class Optimizer:
    """Base: ``lr`` (may be changed between steps by a schedule), ``t`` steps taken."""

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.lr = float(lr)
        self.t = 0
        self.state: dict[Hashable, dict[str, np.ndarray]] = {}

    def step(self, layers: Iterable) -> None:
        """Update every parameter of every layer from its gradient (one iteration)."""
        self.t += 1
        for i, layer in enumerate(layers):
            for key, param in layer.params.items():
                self.update(param, layer.grads[key], (i, key))

    def update(self, param: np.ndarray, grad: np.ndarray, slot: Hashable) -> None:
        """Update one ``param`` in place; ``slot`` names its state (e.g. ``(layer, "W")``)."""
        raise NotImplementedError

    def _slots(self, slot: Hashable, param: np.ndarray, *names: str) -> list[np.ndarray]:
        state = self.state.setdefault(slot, {})
        for name in names:
            if name not in state:
                state[name] = np.zeros_like(param)
        return [state[name] for name in names]

    def __repr__(self) -> str:
        extra = {k: v for k, v in vars(self).items() if k not in ("lr", "t", "state")}
        args = "".join(f", {k}={v!r}" for k, v in extra.items())
        return f"{type(self).__name__}(lr={self.lr!r}{args})"


class GradientDescent(Optimizer):
    """``param -= lr * grad``."""

    def update(self, param, grad, slot):
        param -= self.lr * grad


class Momentum(Optimizer):
    """Gradient descent with momentum: an exponentially weighted average ``v`` of gradients."""

    def __init__(self, lr: float, beta: float = 0.9) -> None:
        super().__init__(lr)
        self.beta = beta

    def update(self, param, grad, slot):
        (v,) = self._slots(slot, param, "v")
        v *= self.beta
        v += (1 - self.beta) * grad
        param -= self.lr * v


class RMSProp(Optimizer):
    """Divide each step by the root of a running mean of squared gradients ``s``."""

    def __init__(self, lr: float, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta2, self.eps = beta2, eps

    def update(self, param, grad, slot):
        (s,) = self._slots(slot, param, "s")
        s *= self.beta2
        s += (1 - self.beta2) * grad * grad
        param -= self.lr * grad / (np.sqrt(s) + self.eps)


class Adam(Optimizer):
    """Momentum (``v``) and RMSProp (``s``) together, each bias-corrected by step ``t``."""

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def update(self, param, grad, slot):
        v, s, tmp = self._slots(slot, param, "v", "s", "tmp")
        t = self.t
        # v = beta1 v + (1 - beta1) dW;  s = beta2 s + (1 - beta2) dW**2  (in place: the
        # temporaries would cost as much as the arithmetic).
        v *= self.beta1
        v += np.multiply(grad, 1 - self.beta1, out=tmp)
        s *= self.beta2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1 - self.beta2
        s += tmp
        # param -= lr * v_corrected / (sqrt(s_corrected) + eps), with both corrections
        # folded into scalars: v_c = v / (1 - beta1**t), sqrt(s_c) = sqrt(s) / sqrt(1 - beta2**t).
        v_scale = 1 / (1 - self.beta1**t)
        s_scale = 1 / np.sqrt(1 - self.beta2**t)
        np.sqrt(s, out=tmp)
        tmp *= s_scale
        tmp += self.eps
        np.divide(v, tmp, out=tmp)
        tmp *= self.lr * v_scale
        param -= tmp


OPTIMIZERS = {
    "gd": GradientDescent,
    "momentum": Momentum,
    "rmsprop": RMSProp,
    "adam": Adam,
}


# Learning-rate schedules: callables epoch -> lr, set on the optimiser before each epoch.


def time_decay(lr0: float, decay_rate: float, time_interval: int = 1) -> Callable[[int], float]:
    """``lr = lr0 / (1 + decay_rate * floor(epoch / time_interval))`` (the course's decay).

    With ``time_interval=1`` it decays every epoch; a larger interval gives the course's
    "fixed interval scheduling".
    """

    def schedule(epoch: int) -> float:
        return lr0 / (1 + decay_rate * (epoch // time_interval))

    return schedule


def exponential_decay(lr0: float, rate: float) -> Callable[[int], float]:
    """``lr = lr0 * rate**epoch`` (e.g. ``rate=0.95``)."""

    def schedule(epoch: int) -> float:
        return lr0 * rate**epoch

    return schedule


def minibatches(
    X: np.ndarray,
    Y: np.ndarray,
    batch_size: int | None = None,
    rng: SeedLike = None,
    shuffle: bool = True,
    x_batch_axis: int = -1,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, Y_batch)`` over one epoch, examples shuffled by ``rng``.

    ``X`` holds examples along ``x_batch_axis`` (-1 for ``(n_x, m)``, 0 for images
    ``(m, C, H, W)``); ``Y`` is ``(n_y, m)``. The last batch is smaller when ``batch_size``
    does not divide ``m`` (the course's "last mini-batch"); ``batch_size=None`` gives one
    batch of everything, in order. Dense batches come back with examples stored
    contiguously (column-major), the layout :class:`dlcore.layers.Dense` runs fastest on.
    """
    m = Y.shape[-1]
    if X.shape[x_batch_axis] != m:
        raise ValueError(
            f"X has {X.shape[x_batch_axis]} examples on axis {x_batch_axis} but Y has {m}"
        )
    if batch_size is None or batch_size >= m:
        yield X, Y
        return
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 or None, got {batch_size}")
    order = as_generator(rng).permutation(m) if shuffle else np.arange(m)
    Xm = np.moveaxis(X, x_batch_axis, 0)  # examples first: gathering rows is a fast copy
    for start in range(0, m, batch_size):
        idx = order[start : start + batch_size]
        yield np.moveaxis(Xm[idx], 0, x_batch_axis), Y[:, idx]
