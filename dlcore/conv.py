"""Convolutional layers: Conv2D, MaxPool2D, AvgPool2D and Flatten, forward and backward.

Taught in notebooks/08-convolutions-from-scratch.ipynb.

Image tensors are ``(m, C, H, W)``: examples first, then channels, height and width, so
these layers have ``batch_axis = 0``. :class:`Flatten` bridges to the dense world: it maps
``(m, C, H, W)`` to the columns ``(C*H*W, m)`` that :class:`dlcore.layers.Dense` takes.
A digit CNN therefore reads::

    Sequential([Conv2D(1, 16, 3, padding=1), ReLU(), MaxPool2D(2),   # (m, 16, 14, 14)
                Conv2D(16, 32, 3, padding=1), ReLU(), MaxPool2D(2),  # (m, 32, 7, 7)
                Flatten(),                                           # (1568, m)
                Dense(1568, 128), Dense(128, 10, activation="softmax")],
               loss="categorical_cross_entropy")

Sizes (the course's symbols): a window of ``f x f`` pixels moved by stride ``s`` over an
input padded with ``p`` zeros on every side gives ``H_out = (H + 2p - f) // s + 1`` (same
for ``W``).

How it is computed — *im2col*: every window the filter visits is copied into a column of a
matrix ``cols``, of shape ``(C_prev*f*f, m*H_out*W_out)``, so that the whole convolution is
ONE matrix product, exactly a dense layer applied to every window::

    Z = W.reshape(C, C_prev*f*f) @ cols + b      # (C, m*H_out*W_out)
    dW = dZ @ cols.T / m,  db = sum(dZ) / m,  dcols = W.T @ dZ

``cols`` is read out of the padded input with :func:`numpy.lib.stride_tricks.as_strided`
(a view: window ``(y, x)`` starts at pixel ``(s*y, s*x)``), then copied once. The backward
step *col2im* adds every column of ``dcols`` back onto the pixels it came from; windows
overlap, so it loops over the ``f*f`` positions inside a window (9 for a 3x3 filter) and
adds one strided slice per position — never over pixels or examples. Pooling reads the same
windows. Gradients follow :mod:`dlcore.layers`: ``dA`` is per example, parameter gradients
are divided by ``m``. The course's convolution notebook derives every line.

Deliberately left out: dilation, groups, "same" padding for even kernels, batch norm.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import as_strided

from dlcore.init import SeedLike, as_generator, initialize
from dlcore.layers import Layer, register_layer


def output_size(n: int, f: int, stride: int, padding: int) -> int:
    """``(n + 2p - f) // s + 1`` — how many window positions fit along one axis."""
    return (n + 2 * padding - f) // stride + 1


def _pad(X: np.ndarray, p: int, value: float = 0.0) -> np.ndarray:
    if p == 0:
        return X
    return np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=value)


def windows(Xp: np.ndarray, f: int, stride: int) -> np.ndarray:
    """A read-only view ``(m, C, H_out, W_out, f, f)`` of every ``f x f`` window of ``Xp``.

    ``windows(Xp, f, s)[i, c, y, x]`` is ``Xp[i, c, s*y : s*y + f, s*x : s*x + f]``; no data
    is copied (the view steps through ``Xp``'s memory with adjusted strides).
    """
    m, C, H, W = Xp.shape
    H_out, W_out = (H - f) // stride + 1, (W - f) // stride + 1
    sm, sc, sh, sw = Xp.strides
    return as_strided(
        Xp,
        shape=(m, C, H_out, W_out, f, f),
        strides=(sm, sc, sh * stride, sw * stride, sh, sw),
        writeable=False,
    )


def _check_images(layer: Layer, A_prev: np.ndarray, C: int | None) -> None:
    if A_prev.ndim != 4 or (C is not None and A_prev.shape[1] != C):
        c = C if C is not None else "C"
        raise ValueError(
            f"{layer!r}: expected A_prev of shape (m, {c}, H, W) (images, examples first), "
            f"got {A_prev.shape}"
        )


def _check_window_fits(layer: Layer, A_prev: np.ndarray, f: int, p: int) -> None:
    H, W = A_prev.shape[2:]
    if H + 2 * p < f or W + 2 * p < f:
        raise ValueError(
            f"{layer!r}: a {f}x{f} window does not fit a {H}x{W} input with padding {p}"
        )


@register_layer
class Conv2D(Layer):
    """A 2-D convolution: ``Z[i, c] = sum_c' W[c, c'] * A_prev[i, c'] + b[c]``, ``A = Z``.

    ``Conv2D(1, 16, 3, padding=1)`` turns ``(m, 1, 28, 28)`` digits into ``(m, 16, 28, 28)``
    feature maps with sixteen 3x3 filters; ``W`` is ``(16, 1, 3, 3)``, ``b`` is ``(16,)``.
    (Like the course, it is a cross-correlation: the filter is not flipped.) The activation
    is a separate layer (``ReLU()``), so this layer's ``A`` is its ``Z``.

    Args:
        C_prev: input channels ``n_C[l-1]``.
        C: output channels (filters) ``n_C[l]``.
        f: filter size (``f x f``).
        stride: ``s``, the step between windows.
        padding: ``p``, zeros added on every side of the input.
        init: weight initialiser (see :mod:`dlcore.init`; fan-in is ``C_prev*f*f``).
        rng: seed or Generator for the initial weights.
        dtype: float32 or float64.

    Memory: ``forward`` keeps ``cols`` (``C_prev*f*f x m*H_out*W_out`` numbers) for the
    backward pass — for the digit CNN's second layer, 113 MB per 1,000 images in float32 —
    so predict large sets in batches: ``model.predict(X, batch_size=1000)``.
    """

    batch_axis: ClassVar[int] = 0

    def __init__(
        self,
        C_prev: int,
        C: int,
        f: int = 3,
        stride: int = 1,
        padding: int = 0,
        init: str = "he",
        rng: SeedLike = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.C_prev, self.C, self.f = int(C_prev), int(C), int(f)
        self.stride, self.padding = int(stride), int(padding)
        if min(self.C_prev, self.C, self.f, self.stride) < 1 or self.padding < 0:
            raise ValueError(
                "Conv2D needs C_prev, C, f, stride >= 1 and padding >= 0, got "
                f"{C_prev}, {C}, {f}, {stride} and {padding}"
            )
        self.init, self.dtype = init, np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"Conv2D dtype must be float32 or float64, got {self.dtype}")
        shape = (self.C, self.C_prev, self.f, self.f)
        self.params = {
            "W": initialize(init, shape, as_generator(rng), self.dtype),
            "b": np.zeros(self.C, dtype=self.dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        """``A_prev: (m, C_prev, H, W) -> Z: (m, C, H_out, W_out)``."""
        _check_images(self, A_prev, self.C_prev)
        _check_window_fits(self, A_prev, self.f, self.padding)
        m = A_prev.shape[0]
        # Channels first while we copy the windows out: then cols comes out as
        # (C_prev, f, f, m, H_out, W_out), i.e. (C_prev*f*f, m*H_out*W_out), in one copy.
        Xp = _pad(A_prev, self.padding).transpose(1, 0, 2, 3)
        win = windows(Xp, self.f, self.stride)  # (C_prev, m, H_out, W_out, f, f)
        _, _, H_out, W_out, _, _ = win.shape
        cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(-1, m * H_out * W_out)
        W, b = self.params["W"], self.params["b"]
        Z = W.reshape(self.C, -1) @ cols  # (C, m*H_out*W_out)
        Z += b[:, None]
        self.cols, self.in_shape = cols, A_prev.shape
        Z = Z.reshape(self.C, m, H_out, W_out).transpose(1, 0, 2, 3)
        self.out_shape = Z.shape
        return np.ascontiguousarray(Z)

    def backward(self, dZ: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dZ: (m, C, H_out, W_out) -> dA_prev: (m, C_prev, H, W)``; fills ``grads``."""
        self._check_backward(dZ, "dZ")
        m, _, H_out, W_out = dZ.shape
        dZ_cols = dZ.transpose(1, 0, 2, 3).reshape(self.C, -1)  # (C, m*H_out*W_out)
        W = self.params["W"]
        # dW = dZ cols.T / m (matmul's out= argument is slow here; assign instead)
        self.grads["W"][...] = (dZ_cols @ self.cols.T).reshape(W.shape)
        self.grads["W"] /= m
        np.sum(dZ_cols, axis=1, out=self.grads["b"])
        self.grads["b"] /= m  # db = sum(dZ) / m
        if not input_grad:
            return None
        dcols = W.reshape(self.C, -1).T @ dZ_cols  # (C_prev*f*f, m*H_out*W_out)
        dcols = dcols.reshape(self.C_prev, self.f, self.f, m, H_out, W_out)
        return col2im(dcols, self.in_shape, self.stride, self.padding)

    def config(self) -> dict[str, Any]:
        return {
            "C_prev": self.C_prev,
            "C": self.C,
            "f": self.f,
            "stride": self.stride,
            "padding": self.padding,
            "init": self.init,
            "dtype": self.dtype.name,
        }


def col2im(
    dcols: np.ndarray, in_shape: tuple[int, ...], stride: int, padding: int
) -> np.ndarray:
    """Add window gradients back onto the input: ``(C, f, f, m, H_out, W_out) -> (m, C, H, W)``.

    ``dcols[c, u, v, i, y, x]`` is the gradient for pixel ``(s*y + u, s*x + v)`` of channel
    ``c`` of (padded) example ``i``. Windows overlap when ``s < f``, so each pixel sums the
    contributions of every window containing it: one strided ``+=`` per offset ``(u, v)``.
    """
    C, f, _, m, H_out, W_out = dcols.shape
    H, W = in_shape[2], in_shape[3]
    s, p = stride, padding
    dXp = np.zeros((C, m, H + 2 * p, W + 2 * p), dtype=dcols.dtype)
    for u in range(f):
        for v in range(f):
            dXp[:, :, u : u + s * H_out : s, v : v + s * W_out : s] += dcols[:, u, v]
    return np.ascontiguousarray(dXp[:, :, p : p + H, p : p + W].transpose(1, 0, 2, 3))


class _Pool2D(Layer):
    """Shared shape logic of the pooling layers: ``f x f`` windows, stride, padding."""

    batch_axis: ClassVar[int] = 0

    def __init__(self, f: int = 2, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        self.f = int(f)
        self.stride = self.f if stride is None else int(stride)
        self.padding = int(padding)
        if self.f < 1 or self.stride < 1 or not 0 <= self.padding <= self.f // 2:
            raise ValueError(
                f"{type(self).__name__} needs f >= 1, stride >= 1 and 0 <= padding <= f // 2, "
                f"got f={f}, stride={stride}, padding={padding}"
            )

    def _offsets(self, Xp: np.ndarray, in_shape: tuple[int, ...]):
        """For each position ``(u, v)`` inside the window (``k = u*f + v``), the strided view
        ``Xp[:, :, u + s*y, v + s*x]`` over all windows ``(y, x)``: shape ``(m, C, H_out, W_out)``.
        """
        s, f = self.stride, self.f
        H_out = output_size(in_shape[2], f, s, self.padding)
        W_out = output_size(in_shape[3], f, s, self.padding)
        for u in range(f):
            for v in range(f):
                yield Xp[:, :, u : u + s * H_out : s, v : v + s * W_out : s]

    def _padded_shape(self) -> tuple[int, ...]:
        m, C, H, W = self.in_shape
        return (m, C, H + 2 * self.padding, W + 2 * self.padding)

    def _crop(self, dXp: np.ndarray) -> np.ndarray:
        p, (H, W) = self.padding, self.in_shape[2:]
        return dXp if p == 0 else np.ascontiguousarray(dXp[:, :, p : p + H, p : p + W])

    def config(self) -> dict[str, Any]:
        return {"f": self.f, "stride": self.stride, "padding": self.padding}


@register_layer
class MaxPool2D(_Pool2D):
    """Max pooling: each output is the largest value of its ``f x f`` window, per channel.

    ``MaxPool2D(2)`` halves height and width: ``(m, C, 28, 28) -> (m, C, 14, 14)``. The
    backward pass routes each ``dA`` to the pixel that won its window (the first one on
    ties) — the other pixels did not affect the output. Padding is with ``-inf``.
    """

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        """``A_prev: (m, C, H, W) -> A: (m, C, H_out, W_out)``."""
        _check_images(self, A_prev, None)
        _check_window_fits(self, A_prev, self.f, self.padding)
        Xp = _pad(A_prev, self.padding, -np.inf)
        # One pass per position (u, v) inside the window, each over every window at once:
        # A = max over (u, v) of Xp[:, :, u + s*y, v + s*x].
        A = None
        for view in self._offsets(Xp, A_prev.shape):
            A = view.copy() if A is None else np.maximum(A, view, out=A)
        self.Xp, self.A = Xp, A
        self.in_shape, self.out_shape = A_prev.shape, A.shape
        return A

    def backward(self, dA: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dA: (m, C, H_out, W_out) -> dA_prev: (m, C, H, W)``."""
        if not input_grad:
            return None
        self._check_backward(dA)
        dXp = np.zeros(self._padded_shape(), dtype=dA.dtype)
        taken = np.zeros(dA.shape, dtype=bool)  # windows whose winner is already found
        for view, d_view in zip(
            self._offsets(self.Xp, self.in_shape), self._offsets(dXp, self.in_shape),
            strict=True,
        ):
            won = view == self.A  # this position holds its window's maximum ...
            won &= ~taken  # ... and no earlier position did (ties: the first wins)
            taken |= won
            if self.stride >= self.f:  # windows do not overlap: each pixel gets one value
                np.multiply(dA, won, out=d_view)
            else:
                d_view += dA * won
        return self._crop(dXp)


@register_layer
class AvgPool2D(_Pool2D):
    """Average pooling: each output is the mean of its ``f x f`` window, per channel.

    With padding the zeros count in the mean (as ``count_include_pad`` in other
    libraries). Backward spreads ``dA / f**2`` evenly over the window.
    """

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        """``A_prev: (m, C, H, W) -> A: (m, C, H_out, W_out)``."""
        _check_images(self, A_prev, None)
        _check_window_fits(self, A_prev, self.f, self.padding)
        A = None
        for view in self._offsets(_pad(A_prev, self.padding), A_prev.shape):
            A = view.copy() if A is None else np.add(A, view, out=A)
        A /= np.asarray(self.f * self.f, dtype=A.dtype)
        self.in_shape, self.out_shape = A_prev.shape, A.shape
        return A

    def backward(self, dA: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dA: (m, C, H_out, W_out) -> dA_prev: (m, C, H, W)``."""
        if not input_grad:
            return None
        self._check_backward(dA)
        share = dA / np.asarray(self.f * self.f, dtype=dA.dtype)
        dXp = np.zeros(self._padded_shape(), dtype=dA.dtype)
        for view in self._offsets(dXp, self.in_shape):
            view += share
        return self._crop(dXp)


@register_layer
class Flatten(Layer):
    """The bridge from images to dense layers: ``(m, C, H, W) -> (C*H*W, m)``.

    Example ``i`` becomes column ``i``, its pixels in C, H, W order (``A[:, i] =
    A_prev[i].ravel()``): the transpose matters, because dense layers take examples as
    columns (``X: (n_x, m)``). No data is copied; backward reshapes ``dA`` back.
    """

    batch_axis: ClassVar[int] = 0

    def forward(self, A_prev: np.ndarray, training: bool = False) -> np.ndarray:
        """``A_prev: (m, ...) -> A: (prod(...), m)``."""
        if A_prev.ndim < 2:
            raise ValueError(f"{self!r}: expected A_prev of shape (m, C, H, W), got {A_prev.shape}")
        self.in_shape = A_prev.shape
        A = A_prev.reshape(A_prev.shape[0], -1).T
        self.out_shape = A.shape
        return A

    def backward(self, dA: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dA: (C*H*W, m) -> dA_prev: (m, C, H, W)``."""
        if not input_grad:
            return None
        self._check_backward(dA)
        return dA.T.reshape(self.in_shape)
