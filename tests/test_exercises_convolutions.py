"""Mutation tests of notebook 08's exercise checks (dlcore/exercises/convolutions.py),
with loop-based learner functions like the notebook's."""

from __future__ import annotations

import numpy as np
from exercise_helpers import Spec, mutation_tests


def zero_pad(X, pad):
    return np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def conv_single_step(a_slice, W, b):
    return float(np.sum(a_slice * W) + b)


def conv_forward(A_prev, W, b, stride=1, pad=0, flip=False, use_b=True, pad_on=True,
                 step=None, bias_last_axis=False):
    m, C_prev, n_H_prev, n_W_prev = A_prev.shape
    C, _, f, _ = W.shape
    p = pad if pad_on else 0
    s = stride if step is None else step
    n_H = (n_H_prev + 2 * p - f) // s + 1
    n_W = (n_W_prev + 2 * p - f) // s + 1
    A_pad = np.pad(A_prev, ((0, 0), (0, 0), (p, p), (p, p)))
    K = W[:, :, ::-1, ::-1] if flip else W
    Z = np.zeros((m, C, n_H, n_W))
    for y in range(n_H):
        for x in range(n_W):
            window = A_pad[:, :, y * s:y * s + f, x * s:x * s + f]
            Z[:, :, y, x] = np.tensordot(window, K, axes=([1, 2, 3], [1, 2, 3]))
    if use_b:
        Z = Z + (b if bias_last_axis else b[None, :, None, None])
    return Z


def conv_forward_unstrided(A_prev, W, b, stride=1, pad=0):
    # the output size uses the stride, the windows do not
    Z = conv_forward(A_prev, W, b, stride, pad)
    full = conv_forward(A_prev, W, b, 1, pad)
    return full[:, :, :Z.shape[2], :Z.shape[3]]


def conv_backward(dZ, A_prev, W, stride=1, pad=0, flip=False, mean=True, mean_dA=False,
                  crop="ok", db_axes=(0, 2, 3)):
    m, C_prev, n_H_prev, n_W_prev = A_prev.shape
    C, _, f, _ = W.shape
    _, _, n_H, n_W = dZ.shape
    A_pad = np.pad(A_prev, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dA_pad, dW = np.zeros_like(A_pad), np.zeros_like(W)
    K = W[:, :, ::-1, ::-1] if flip else W
    for y in range(n_H):
        for x in range(n_W):
            rows, cols = slice(y * stride, y * stride + f), slice(x * stride, x * stride + f)
            g = dZ[:, :, y, x]
            dW += np.tensordot(g, A_pad[:, :, rows, cols], axes=([0], [0]))
            dA_pad[:, :, rows, cols] += np.tensordot(g, K, axes=([1], [0]))
    db = dZ.sum(axis=db_axes)
    if crop == "ok":
        dA_prev = dA_pad[:, :, pad:pad + n_H_prev, pad:pad + n_W_prev]
    elif crop == "negative":
        dA_prev = dA_pad[:, :, pad:-pad, pad:-pad]
    else:
        dA_prev = dA_pad
    scale = 1 / m if mean else 1
    return (dA_prev / m if mean_dA else dA_prev), dW * scale, db * scale


def cb_with(**kw):
    return lambda dZ, A_prev, W, stride, pad: conv_backward(dZ, A_prev, W, stride, pad, **kw)


def pool_forward(A_prev, f=2, stride=2, mode="max", step=None, swap=False, reduce=None,
                 total=False):
    m, C, n_H_prev, n_W_prev = A_prev.shape
    s = stride if step is None else step
    n_H, n_W = (n_H_prev - f) // s + 1, (n_W_prev - f) // s + 1
    if swap:
        mode = "average" if mode == "max" else "max"
    A = np.zeros((m, C, n_H, n_W))
    for y in range(n_H):
        for x in range(n_W):
            window = A_prev[:, :, y * s:y * s + f, x * s:x * s + f]
            if reduce is not None:
                value = window.max(axis=reduce) if mode == "max" else window.mean(axis=reduce)
                A[:, :, y, x] = value[:, None]
            elif mode == "max":
                A[:, :, y, x] = window.max(axis=(2, 3))
            else:
                A[:, :, y, x] = window.sum(axis=(2, 3)) if total else window.mean(axis=(2, 3))
    return A


def pf_with(**kw):
    return lambda A_prev, f, stride, mode: pool_forward(A_prev, f, stride, mode, **kw)


def pool_forward_unstrided(A_prev, f, stride, mode):
    A = pool_forward(A_prev, f, stride, mode)
    return pool_forward(A_prev, f, 1, mode)[:, :, :A.shape[2], :A.shape[3]]


def pool_backward(dA, A_prev, f=2, stride=2, mode="max", everywhere=False, divide=None,
                  assign=False, global_max=False, swap=False):
    if swap:
        mode = "average" if mode == "max" else "max"
    dA_prev = np.zeros_like(A_prev)
    _, _, n_H, n_W = dA.shape
    for y in range(n_H):
        for x in range(n_W):
            rows, cols = slice(y * stride, y * stride + f), slice(x * stride, x * stride + f)
            g = dA[:, :, y, x][:, :, None, None]
            window = A_prev[:, :, rows, cols]
            if mode == "max":
                if everywhere:
                    piece = np.ones_like(window) * g
                else:
                    top = A_prev.max() if global_max else window.max(axis=(2, 3), keepdims=True)
                    piece = (window == top) * g
            else:
                piece = np.ones_like(window) * g / (f * f if divide is None else divide(f))
            if assign:
                dA_prev[:, :, rows, cols] = piece
            else:
                dA_prev[:, :, rows, cols] += piece
    return dA_prev


def pool_backward_broadcast(dA, A_prev, f, stride, mode):
    # every cell of the window gets the window's dA, written as a broadcast add
    dA_prev = np.zeros_like(A_prev)
    for y in range(dA.shape[2]):
        for x in range(dA.shape[3]):
            g = dA[:, :, y:y + 1, x:x + 1]
            if mode != "max":
                g = g / f**2
            dA_prev[:, :, y * stride:y * stride + f, x * stride:x * stride + f] += g
    return dA_prev


def pb_with(**kw):
    return lambda dA, A_prev, f, stride, mode: pool_backward(dA, A_prev, f, stride, mode, **kw)


SPECS = [
    Spec("zero_pad", zero_pad, {
        "all_axes": lambda X, pad: np.pad(X, pad),
        "channels_last": lambda X, pad: np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))),
        "one_side": lambda X, pad: np.pad(X, ((0, 0), (0, 0), (0, pad), (0, pad))),
        "height_only": lambda X, pad: np.pad(X, ((0, 0), (0, 0), (pad, pad), (0, 0))),
        "twice": lambda X, pad: np.pad(X, ((0, 0), (0, 0), (2 * pad, 2 * pad), (2 * pad, 2 * pad))),
        "border_not_zero": lambda X, pad: np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                                                 mode="edge"),
    }, rewritten=[
        ("border_not_zero", lambda X, pad: np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                                                  constant_values=1)),
        ("all_axes", lambda X, pad: np.pad(X, ((pad, pad),) * 4)),
        ("one_side", lambda X, pad: np.concatenate(  # zeros added after the image only
            [np.concatenate([X, np.zeros(X.shape[:3] + (pad,))], axis=3),
             np.zeros(X.shape[:2] + (pad, X.shape[3] + pad))], axis=2)),
    ]),
    Spec("conv_single_step", conv_single_step, {
        "no_bias": lambda a, W, b: np.sum(a * W),
        "flipped": lambda a, W, b: np.sum(a * W[:, ::-1, ::-1]) + b,
        "no_sum": lambda a, W, b: a * W + b,
        "mean": lambda a, W, b: np.mean(a * W) + b,
        "bias_everywhere": lambda a, W, b: np.sum(a * W + b),
    }, rewritten=[("flipped", lambda a, W, b: np.sum(a[:, ::-1, ::-1] * W) + b)]),
    Spec("conv_forward", conv_forward, {
        "flipped": lambda A, W, b, s, p: conv_forward(A, W, b, s, p, flip=True),
        "no_bias": lambda A, W, b, s, p: conv_forward(A, W, b, s, p, use_b=False),
        "bias_on_width": lambda A, W, b, s, p: conv_forward(A, W, b, s, p, bias_last_axis=True),
        "no_pad": lambda A, W, b, s, p: conv_forward(A, W, b, s, p, pad_on=False),
        "stride_ignored": lambda A, W, b, s, p: conv_forward(A, W, b, s, p, step=1),
        "window_not_strided": conv_forward_unstrided,
    }, rewritten=[
        ("flipped", lambda A, W, b, s, p: conv_forward(A[:, :, ::-1, ::-1], W, b, s, p)
         [:, :, ::-1, ::-1] if p == 1 and s == 1 else conv_forward(A, W, b, s, p, flip=True)),
    ]),
    Spec("conv_backward", conv_backward, {
        "no_mean": cb_with(mean=False),
        "dA_prev_mean": cb_with(mean_dA=True),
        "not_cropped": cb_with(crop="no"),
        "crop_empty": cb_with(crop="negative"),
        "flipped": cb_with(flip=True),
        "db_wrong_axes": cb_with(db_axes=(1, 2, 3)),
    }),
    Spec("pool_forward", pool_forward, {
        "mode_swapped": pf_with(swap=True),
        "sum": pf_with(total=True),
        "stride_ignored": pf_with(step=1),
        "window_not_strided": pool_forward_unstrided,
        "over_channels": pf_with(reduce=(1, 2, 3)),
    }),
    Spec("pool_backward", pool_backward, {
        "max_everywhere": pb_with(everywhere=True),
        "max_global_mask": pb_with(global_max=True),
        "average_not_divided": pb_with(divide=lambda f: 1),
        "average_divided_by_f": pb_with(divide=lambda f: f),
        "assigned": pb_with(assign=True),
        "mode_swapped": pb_with(swap=True),
    }, rewritten=[("max_everywhere", pool_backward_broadcast)]),
]

(test_solution_passes, test_stub_is_not_implemented_yet, test_catalogued_mistake_is_recognised,
 test_mistake_written_differently_is_recognised,
 test_every_catalogued_mistake_has_a_mutant) = mutation_tests(SPECS)
