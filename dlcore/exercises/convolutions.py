"""Exercises of notebook 08, convolutions from scratch: zero_pad, conv_single_step,
conv_forward, conv_backward, pool_forward and pool_backward.

The convention is dlcore's (and the notebook's): images ``A_prev: (m, C_prev, H, W)``,
examples first, then channels, height and width; filters ``W: (C, C_prev, f, f)``,
biases ``b: (C,)``; outputs ``(m, C, H_out, W_out)`` with
``H_out = (H + 2 pad − f) // stride + 1``. Like the course, a convolution is a
cross-correlation: the filter is not flipped.
"""

from __future__ import annotations

import numpy as np

from dlcore.conv import AvgPool2D, Conv2D, MaxPool2D
from dlcore.exercises.engine import Case, Exercise, Mistake, Parts, register, tuple_of
from dlcore.exercises.references import F64

# -- zero_pad -----------------------------------------------------------------------------


def _pad(X, widths):
    return np.pad(np.asarray(X, F64), widths)


def _zero_pad(X, pad):
    # dlcore pads inside Conv2D without exposing it; this is the same np.pad.
    return _pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _zero_pad_cases(rng) -> list[Case]:
    return [
        Case((rng.standard_normal((2, 3, 4, 5)), 1), "X of shape (2, 3, 4, 5), pad = 1"),
        Case((rng.standard_normal((1, 1, 3, 3)), 2), "X of shape (1, 1, 3, 3), pad = 2"),
        Case((rng.standard_normal((3, 2, 5, 4)).astype(np.float32), 1),
             "float32 X of shape (3, 2, 5, 4), pad = 1"),
    ]


def _border_not_zero(got, expected, case):
    X, p = case.args
    g = np.asarray(got["X_pad"], dtype=F64) if got["X_pad"] is not None else None
    if g is None or g.shape != expected["X_pad"].shape or p == 0:
        return False
    H, W = X.shape[2:]
    inside = np.allclose(g[:, :, p:p + H, p:p + W], X)
    border = g.copy()
    border[:, :, p:p + H, p:p + W] = 0
    return inside and bool(np.any(border))


register(Exercise(
    name="zero_pad",
    signature="zero_pad(X, pad)",
    notebooks=(8,),
    summary="Pad every image of X (m, C, H, W) with pad zeros on each side of its height and "
    "width: (m, C, H + 2 pad, W + 2 pad). Examples and channels are not padded.",
    checks="three batches (one float32) and pads of 1 and 2; compared with np.pad on axes 2 "
    "and 3 only.",
    cases=_zero_pad_cases,
    reference=_zero_pad,
    unpack=tuple_of("X_pad"),
    mistakes=[
        Mistake("all_axes", "every axis is padded, examples and channels too: pad only the "
                "height and width, ((0, 0), (0, 0), (pad, pad), (pad, pad))",
                lambda X, p: _pad(X, p)),
        Mistake("channels_last", "the channels and the height are padded: images here are "
                "(m, C, H, W), so pad axes 2 and 3",
                lambda X, p: _pad(X, ((0, 0), (p, p), (p, p), (0, 0)))),
        Mistake("one_side", "the pad is added on one side only: pad both sides, (pad, pad)",
                lambda X, p: _pad(X, ((0, 0), (0, 0), (0, p), (0, p)))),
        Mistake("height_only", "only the height is padded: pad the width too",
                lambda X, p: _pad(X, ((0, 0), (0, 0), (p, p), (0, 0)))),
        Mistake("twice", "2·pad is added on each side: pad on each side, so the size grows "
                "by 2·pad in all", lambda X, p: _zero_pad(X, 2 * p)),
        Mistake("border_not_zero", "the border is not zeros: pad with zeros, "
                "np.pad(X, ..., mode=\"constant\", constant_values=0)", test=_border_not_zero),
    ],
))


# -- conv_single_step ---------------------------------------------------------------------


def _conv(A_prev, W, b, stride: int = 1, pad: int = 0, flip: bool = False):
    """dlcore's Conv2D forward with the given filters (flipped for the known mistake)."""
    W = np.asarray(W, F64)
    C, C_prev, f, _ = W.shape
    layer = Conv2D(C_prev, C, f, stride=stride, padding=pad, init="zeros", dtype=F64)
    layer.params["W"][...] = W[:, :, ::-1, ::-1] if flip else W
    layer.params["b"][...] = b
    return layer, layer.forward(np.asarray(A_prev, F64))


def _single(a_slice, W, b, flip=False):
    return float(_conv(a_slice[None], np.asarray(W)[None], b, flip=flip)[1][0, 0, 0, 0])


def _single_cases(rng) -> list[Case]:
    return [
        Case((rng.standard_normal((3, 3, 3)), rng.standard_normal((3, 3, 3)), 0.5),
             "a 3x3 window of 3 channels, b = 0.5"),
        Case((rng.standard_normal((1, 2, 2)), rng.standard_normal((1, 2, 2)), -1.2),
             "a 2x2 window of 1 channel, b = -1.2"),
        Case((rng.standard_normal((4, 5, 5)).astype(np.float32),
              rng.standard_normal((4, 5, 5)).astype(np.float32), 0.1),
             "float32, a 5x5 window of 4 channels, b = 0.1"),
    ]


register(Exercise(
    name="conv_single_step",
    signature="conv_single_step(a_slice, W, b)",
    notebooks=(8,),
    summary="One step of a convolution: the window a_slice (C_prev, f, f) times the filter "
    "W (C_prev, f, f), entry by entry, summed, plus the bias b: a number.",
    checks="3x3, 2x2 and float32 5x5 windows; compared with a one-filter dlcore Conv2D on "
    "that window.",
    cases=_single_cases,
    reference=_single,
    unpack=tuple_of("Z", scalars=("Z",)),
    mistakes=[
        Mistake("no_bias", "b is left out: Z = Σ a_slice · W + b",
                lambda a, W, b: float(np.sum(np.asarray(a, F64) * W))),
        Mistake("flipped", "the filter is flipped: the course's convolution multiplies the "
                "window by W as it is (a cross-correlation), no W[..., ::-1, ::-1]",
                lambda a, W, b: _single(a, W, b, flip=True)),
        Mistake("no_sum", "this is the array of products a_slice · W: sum them into one "
                "number, then add b", lambda a, W, b: np.asarray(a, F64) * W + b),
        Mistake("mean", "the products are averaged: sum them, Σ a_slice · W + b",
                lambda a, W, b: float(np.mean(np.asarray(a, F64) * W) + b)),
        Mistake("bias_everywhere", "b is added to every product before the sum: add it once, "
                "Σ (a_slice · W) + b", lambda a, W, b: float(np.sum(np.asarray(a, F64) * W + b))),
    ],
))


# -- conv_forward -------------------------------------------------------------------------


def _conv_cases(rng) -> list[Case]:
    cases = []
    for shape, C, f, stride, pad, dtype in [((2, 3, 5, 5), 5, 3, 1, 1, F64),
                                            ((1, 2, 6, 7), 3, 3, 2, 0, F64),
                                            ((2, 1, 7, 6), 2, 2, 2, 1, np.float32)]:
        A = rng.standard_normal(shape).astype(dtype)
        W = rng.standard_normal((C, shape[1], f, f)).astype(dtype)
        b = rng.standard_normal(C).astype(dtype)
        cases.append(Case((A, W, b, stride, pad), f"A_prev of shape {shape}, W of shape "
                          f"{W.shape}, stride = {stride}, pad = {pad}"))
    return cases


def _conv_forward(A_prev, W, b, stride, pad, **kw):
    return _conv(A_prev, W, b, stride, pad, **kw)[1]


def _unstrided(A_prev, W, b, stride, pad):
    """Windows at (y, x) instead of (stride·y, stride·x), the output size still right."""
    if stride == 1:
        return None
    Z = _conv_forward(A_prev, W, b, stride, pad)
    return _conv_forward(A_prev, W, b, 1, pad)[:, :, : Z.shape[2], : Z.shape[3]]


def _bias_on_width(A_prev, W, b, stride, pad):
    Z = _conv_forward(A_prev, W, 0 * b, stride, pad)
    return Z + np.asarray(b, F64) if Z.shape[3] == len(b) else None


register(Exercise(
    name="conv_forward",
    signature="conv_forward(A_prev, W, b, stride, pad)",
    notebooks=(8,),
    summary="The convolution of A_prev (m, C_prev, H, W), padded with pad zeros, with the "
    "C filters W (C, C_prev, f, f) moved by stride, plus b (C,): Z of shape "
    "(m, C, H_out, W_out), H_out = (H + 2 pad − f) // stride + 1.",
    checks="stride 1 with pad 1 (5 filters over 5x5 images), stride 2 without padding (one "
    "example, a 6x7 image), stride 2 with pad 1 and 2x2 filters in float32; compared with "
    "dlcore's Conv2D.",
    cases=_conv_cases,
    reference=_conv_forward,
    unpack=tuple_of("Z"),
    mistakes=[
        Mistake("flipped", "the filters are flipped: the course's convolution slides W as it "
                "is (a cross-correlation), no W[..., ::-1, ::-1]",
                lambda *a: _conv_forward(*a, flip=True)),
        Mistake("no_bias", "b is left out: add b[c] to every output of filter c",
                lambda A, W, b, s, p: _conv_forward(A, W, 0 * b, s, p)),
        Mistake("bias_on_width", "b is added along the width axis: Z is (m, C, H, W), so "
                "reshape b to (1, C, 1, 1) before adding it", _bias_on_width),
        Mistake("no_pad", "the input is not padded: pad A_prev with pad zeros on each side "
                "of the height and width first",
                lambda A, W, b, s, p: _conv_forward(A, W, b, s, 0) if p else None),
        Mistake("stride_ignored", "the filters move one pixel at a time: they move by "
                "stride, and n_H = (H + 2 pad − f) // stride + 1",
                lambda A, W, b, s, p: _conv_forward(A, W, b, 1, p) if s > 1 else None),
        Mistake("window_not_strided", "the windows start at (y, x): they start at "
                "(stride·y, stride·x)", _unstrided),
    ],
))


# -- conv_backward ------------------------------------------------------------------------


def _conv_backward(dZ, A_prev, W, stride, pad, flip=False):
    layer, _ = _conv(A_prev, W, np.zeros(len(W)), stride, pad, flip=flip)
    dA_prev = layer.backward(np.asarray(dZ, F64))
    return dA_prev, layer.grads["W"].copy(), layer.grads["b"].copy()


def _conv_backward_cases(rng) -> list[Case]:
    cases = []
    for shape, C, f, stride, pad, dtype in [((2, 3, 5, 5), 4, 3, 1, 1, F64),
                                            ((1, 2, 6, 7), 3, 3, 2, 1, F64),
                                            ((3, 2, 5, 4), 2, 2, 1, 0, np.float32)]:
        A = rng.standard_normal(shape).astype(dtype)
        W = rng.standard_normal((C, shape[1], f, f)).astype(dtype)
        Z_shape = _conv_forward(A, W, np.zeros(C), stride, pad).shape
        dZ = rng.standard_normal(Z_shape).astype(dtype)
        cases.append(Case((dZ, A, W, stride, pad), f"A_prev of shape {shape}, W of shape "
                          f"{W.shape}, stride = {stride}, pad = {pad}", {"m": shape[0]}))
    return cases


def _padded_grad(dZ, A_prev, W, stride, pad):
    if pad == 0:
        return None
    Ap = np.pad(np.asarray(A_prev, F64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return Parts(dA_prev=_conv_backward(dZ, Ap, W, stride, 0)[0])


def _scaled(factor):
    def variant(dZ, A_prev, W, stride, pad):
        dA, dW, db = _conv_backward(dZ, A_prev, W, stride, pad)
        m = A_prev.shape[0]
        return Parts(dW=dW * factor(m), db=db * factor(m))

    return variant


register(Exercise(
    name="conv_backward",
    signature="conv_backward(dZ, A_prev, W, stride, pad)",
    notebooks=(8,),
    summary="The convolution backwards: every window's dZ flows back to the window's pixels "
    "(dA_prev += W[c] · dZ[i, c, y, x], summed over filters and overlapping windows, the pad "
    "cropped off) and to the filter (dW[c] += window · dZ[i, c, y, x]); dW and db "
    "(Σ dZ over examples, height and width) carry the 1/m, dA_prev does not. "
    "Returns (dA_prev, dW, db).",
    checks="stride 1 with pad 1, stride 2 with pad 1 (one example), 2x2 filters without "
    "padding in float32; compared with dlcore's Conv2D.backward.",
    cases=_conv_backward_cases,
    reference=_conv_backward,
    unpack=tuple_of("dA_prev", "dW", "db"),
    mistakes=[
        Mistake("no_mean", "{part} is m times too large: the 1/m is missing",
                _scaled(lambda m: m), first_wrong_only=True),
        Mistake("dA_prev_mean", "dA_prev is divided by m: only dW and db take the 1/m",
                lambda *a: Parts(dA_prev=_conv_backward(*a)[0] / a[1].shape[0])),
        Mistake("not_cropped", "dA_prev has the padded shape: crop the pad off, "
                "dA_pad[:, :, pad:pad + H, pad:pad + W]", _padded_grad),
        Mistake("crop_empty", "dA_prev is empty: with pad = 0, dA_pad[:, :, pad:-pad] is an "
                "empty slice; crop with pad:pad + H instead",
                lambda dZ, A, W, s, p: Parts(dA_prev=np.zeros(A.shape[:2] + (0, 0)))
                if p == 0 else None),
        Mistake("flipped", "dA_prev uses flipped filters: each window's gradient is "
                "W[c] · dZ[i, c, y, x], with W as it is",
                lambda *a: Parts(dA_prev=_conv_backward(*a, flip=True)[0])),
        Mistake("db_wrong_axes", "db sums over the wrong axes: sum over the examples, the "
                "height and the width, axis=(0, 2, 3), then divide by m",
                lambda dZ, *a: Parts(db=np.asarray(dZ, F64).sum(axis=(1, 2, 3)) / dZ.shape[0])),
    ],
))


# -- pooling ------------------------------------------------------------------------------

POOLS = {"max": MaxPool2D, "average": AvgPool2D}
OTHER = {"max": "average", "average": "max"}


def _pool(A_prev, f, stride, mode):
    layer = POOLS[mode](f, stride)
    return layer, layer.forward(np.asarray(A_prev, F64))


def _pool_forward(A_prev, f, stride, mode):
    return _pool(A_prev, f, stride, mode)[1]


POOL_SETTINGS = [((2, 3, 6, 6), 2, 2, "max", F64), ((1, 2, 4, 6), 2, 2, "average", F64),
                 ((2, 1, 5, 7), 3, 1, "max", F64), ((2, 2, 5, 7), 3, 1, "average", F64),
                 ((1, 2, 7, 5), 3, 2, "average", np.float32), ((2, 2, 7, 6), 2, 3, "max", F64)]


def _pool_cases(rng) -> list[Case]:
    return [Case((rng.standard_normal(shape).astype(dtype), f, s, mode),
                 f"mode = {mode!r}, f = {f}, stride = {s}, A_prev of shape {shape}, "
                 f"{np.dtype(dtype).name}", {"mode": mode})
            for shape, f, s, mode, dtype in POOL_SETTINGS]


def _pool_unstrided(A_prev, f, stride, mode):
    if stride == 1:
        return None
    A = _pool_forward(A_prev, f, stride, mode)
    return _pool_forward(A_prev, f, 1, mode)[:, :, : A.shape[2], : A.shape[3]]


def _over_channels(A_prev, f, stride, mode):
    """Each window pooled over the channels too (window.max(axis=(1, 2, 3))), the one
    value then broadcast to every channel."""
    A = np.asarray(A_prev, F64)
    if A.shape[1] == 1:
        return None
    per_pixel = A.max(axis=1, keepdims=True) if mode == "max" else A.mean(axis=1, keepdims=True)
    pooled = _pool_forward(per_pixel, f, stride, mode)
    return np.broadcast_to(pooled, (A.shape[0], A.shape[1], *pooled.shape[2:])).copy()


register(Exercise(
    name="pool_forward",
    signature="pool_forward(A_prev, f, stride, mode)",
    notebooks=(8,),
    summary="Max or average pooling (mode \"max\" or \"average\") of every channel of "
    "A_prev (m, C, H, W) over f x f windows moved by stride: (m, C, H_out, W_out), "
    "H_out = (H − f) // stride + 1.",
    checks="both modes with 2x2 windows and stride 2, overlapping 3x3 windows with stride 1, "
    "stride 2 in float32 and stride 3 with 2x2 windows; compared with dlcore's MaxPool2D "
    "and AvgPool2D.",
    cases=_pool_cases,
    reference=_pool_forward,
    unpack=tuple_of("A"),
    mistakes=[
        Mistake("mode_swapped", "mode {mode!r} gives the other pooling: max for \"max\", the "
                "mean for \"average\"",
                lambda A, f, s, mode: _pool_forward(A, f, s, OTHER[mode])),
        Mistake("sum", "average pooling sums the window: divide by the f·f cells, "
                "window.mean(axis=(2, 3))",
                lambda A, f, s, mode: _pool_forward(A, f, s, mode) * f * f
                if mode == "average" else None),
        Mistake("stride_ignored", "the windows move one pixel at a time: they move by stride, "
                "and n_H = (H − f) // stride + 1",
                lambda A, f, s, mode: _pool_forward(A, f, 1, mode) if s > 1 else None),
        Mistake("window_not_strided", "the windows start at (y, x): they start at "
                "(stride·y, stride·x)", _pool_unstrided),
        Mistake("over_channels", "the pooling mixes the channels: pool each channel on its "
                "own, over the window's height and width only, axis=(2, 3)", _over_channels),
    ],
))


def _pool_backward_cases(rng) -> list[Case]:
    cases = []
    for c in _pool_cases(rng):
        A_prev, f, s, mode = c.args
        dA = rng.standard_normal(_pool_forward(A_prev, f, s, mode).shape).astype(A_prev.dtype)
        cases.append(Case((dA, A_prev, f, s, mode), c.label, {"mode": mode}))
    return cases


def _pool_backward(dA, A_prev, f, stride, mode):
    layer, _ = _pool(A_prev, f, stride, mode)
    return layer.backward(np.asarray(dA, F64))


def _route(dA, A_prev, f, stride, share, accumulate=True):
    """Send each window's dA to its cells with ``share(window, g)``, window by window."""
    A_prev, dA = np.asarray(A_prev, F64), np.asarray(dA, F64)
    out = np.zeros_like(A_prev)
    for y in range(dA.shape[2]):
        for x in range(dA.shape[3]):
            rows, cols = slice(y * stride, y * stride + f), slice(x * stride, x * stride + f)
            g = dA[:, :, y, x][:, :, None, None]
            piece = share(A_prev[:, :, rows, cols], g)
            if accumulate:
                out[:, :, rows, cols] += piece
            else:
                out[:, :, rows, cols] = piece
    return out


def _winner(window, g):
    return (window == window.max(axis=(2, 3), keepdims=True)) * g


def _mode_only(mode, f_variant):
    def variant(dA, A_prev, f, stride, m):
        return f_variant(dA, A_prev, f, stride, m) if m == mode else None

    return variant


register(Exercise(
    name="pool_backward",
    signature="pool_backward(dA, A_prev, f, stride, mode)",
    notebooks=(8,),
    summary="Pooling backwards: for \"max\" each window's dA goes to the cell that held the "
    "window's max; for \"average\" it is spread evenly, dA / (f·f), over the window; "
    "overlapping windows add up. Returns dA_prev, shaped like A_prev.",
    checks="the cases of pool_forward (both modes, non-overlapping and overlapping "
    "windows, float32, stride 3); compared with dlcore's MaxPool2D and AvgPool2D backward.",
    cases=_pool_backward_cases,
    reference=_pool_backward,
    unpack=tuple_of("dA_prev"),
    mistakes=[
        Mistake("max_everywhere", "the max-pool gradient goes to every cell of the window: "
                "only the cell that held the max gets it, mask = (window == window.max())",
                _mode_only("max", lambda dA, A, f, s, m: _route(dA, A, f, s,
                                                                lambda w, g: np.ones_like(w) * g))),
        Mistake("max_global_mask", "the mask compares with the max of the whole input: compare "
                "each window with its own max",
                _mode_only("max", lambda dA, A, f, s, m: _route(
                    dA, A, f, s, lambda w, g: (w == np.asarray(A, F64).max()) * g))),
        Mistake("average_not_divided", "the average-pool gradient is not divided by f·f: "
                "each of the f·f cells gets dA / (f·f)",
                _mode_only("average", lambda dA, A, f, s, m: _route(dA, A, f, s,
                                                                    lambda w, g: 0 * w + g))),
        Mistake("average_divided_by_f", "the average-pool gradient is divided by f: divide "
                "by f·f, the number of cells in the window",
                _mode_only("average", lambda dA, A, f, s, m: _route(dA, A, f, s,
                                                                    lambda w, g: 0 * w + g / f))),
        Mistake("assigned", "overlapping windows overwrite each other's gradient: add into "
                "dA_prev (+=) instead of assigning (=)",
                lambda dA, A, f, s, m: _route(
                    dA, A, f, s, _winner if m == "max" else lambda w, g: 0 * w + g / (f * f),
                    accumulate=False) if s < f else None),
        Mistake("mode_swapped", "mode {mode!r} routes the gradient like the other pooling: "
                "to the max cell for \"max\", evenly for \"average\"",
                lambda dA, A, f, s, m: _pool_backward(dA, A, f, s,
                                                      "average" if m == "max" else "max")),
    ],
))
