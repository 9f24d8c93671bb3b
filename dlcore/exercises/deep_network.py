"""Exercises of notebook 03, a deep network step by step: init_params_deep, linear_forward,
layer_forward, relu, model_forward, linear_backward, relu_backward, sigmoid_backward,
model_backward and update_params (sigmoid and compute_cost are shared with notebooks 01
and 02).

``params`` is a list with one ``(W, b)`` per layer, ``W[l]: (n[l], n[l-1])``,
``b[l]: (n[l], 1)``; hidden layers are ReLU, the output layer one sigmoid unit.
``caches[l - 1]`` belongs to layer ``l`` and holds ``(A_prev, A)`` — or ``(A_prev, Z)``
in the notebook version that caches Z (``check.model_forward(f, cache="Z")``).
"""

from __future__ import annotations

import numpy as np

from dlcore import activations
from dlcore.exercises.engine import (
    Case,
    Exercise,
    Mistake,
    Parts,
    Runner,
    StructureError,
    parameter_names,
    per_layer,
    register,
    set_order,
    tuple_of,
)
from dlcore.exercises.properties import (
    as_array,
    expect_shape,
    follows_rng,
    spread,
    unpack_or_fail,
)
from dlcore.exercises.references import F64, dense, labels01, network
from dlcore.optim import GradientDescent


def _f64(*arrays):
    return tuple(np.asarray(a, F64) for a in arrays)


# -- init_params_deep ---------------------------------------------------------------------


def _init_deep_flavour(scheme: str) -> Exercise:
    factor = 2.0 if scheme == "he" else 1.0
    words = "sqrt(2 / n[l-1])" if scheme == "he" else "sqrt(1 / n[l-1])"

    def procedure(r: Runner) -> None:
        unpack = per_layer("W", "b")
        dims = [5, 4, 3, 1]
        got = r.call(dims, np.random.default_rng(0))
        if isinstance(got, tuple | list) and len(got) != len(dims) - 1:
            r.mistake("layer_count", dims=dims, L=len(dims) - 1, got=len(got))
        parts = unpack_or_fail(r, unpack, got)
        for k in range(1, len(dims)):
            W = as_array(r, f"W[{k}]", parts[f"W[{k}]"])
            b = as_array(r, f"b[{k}]", parts[f"b[{k}]"])
            expect_shape(r, f"W[{k}]", W, (dims[k], dims[k - 1]), "transposed", k=k)
            expect_shape(r, f"b[{k}]", b, (dims[k], 1))
            if np.any(b):
                r.mistake("random_bias", part=f"b[{k}]")
        r.passed(2)
        dims = [300, 200, 120, 60]
        big = unpack_or_fail(r, unpack, r.call(dims, np.random.default_rng(1)))
        for k in range(1, len(dims)):
            n_prev, n = dims[k - 1], dims[k]
            scales = {
                "he_vs_xavier": np.sqrt((3.0 - factor) / n_prev),
                "fan_out": np.sqrt(factor / n),
                "no_sqrt": factor / n_prev,
                "small": 0.01,
                "no_scale": 1.0,
            }
            spread(r, f"W[{k}]", as_array(r, f"W[{k}]", big[f"W[{k}]"]),
                   np.sqrt(factor / n_prev), scales, f"standard normal draws times {words}")
            r.passed()
        follows_rng(r, lambda rng: unpack(r.call([5, 4, 3, 1], rng))["W[1]"])
        r.passed()

    other = "sqrt(1 / n[l-1]) — Xavier's" if scheme == "he" else "sqrt(2 / n[l-1]) — He's"
    return Exercise(
        name="init_params_deep",
        signature="init_params_deep(layer_dims, rng)",
        notebooks=(3,),
        summary=f"One (W, b) per layer: W[l] = N(0, 1)·{words} of shape (n[l], n[l-1]), "
        "b[l] = 0 of shape (n[l], 1). layer_dims = [n_x, n[1], ..., n[L]].",
        checks="properties: the number of layers and their shapes for layer_dims = "
        "[5, 4, 3, 1], zero biases, the spread of every W for [300, 200, 120, 60], and "
        "that the draws follow rng.",
        procedure=procedure,
        mistakes=[
            Mistake("layer_count", "returned {got} layers for layer_dims = {dims}: one (W, b) "
                    "per layer, L = len(layer_dims) − 1 = {L}"),
            Mistake("transposed", "{part} has shape {got}: W[l] is (n[l], n[l-1]), "
                    "here {shape}"),
            Mistake("random_bias", "{part} should start at zero (np.zeros((n[l], 1)))"),
            Mistake("zeros", "{part} is all zeros: every unit of a layer would compute the "
                    "same thing; draw random weights"),
            Mistake("uniform", "the weights in {part} are all positive: draw from the "
                    "standard normal, rng.standard_normal(shape)"),
            Mistake("he_vs_xavier", f"the weights in {{part}} spread by {other} scale; this "
                    f"network uses {words}"),
            Mistake("fan_out", f"the weights in {{part}} are scaled by the layer's own size "
                    f"n[l]: the scale uses its inputs, {words}"),
            Mistake("no_sqrt", f"the weights in {{part}} spread with standard deviation "
                    f"{{std}}: take the square root, {words}"),
            Mistake("small", f"the weights in {{part}} are scaled by 0.01: in a deep ReLU "
                    f"network they are scaled by {words}"),
            Mistake("no_scale", f"the weights in {{part}} are not scaled: multiply the "
                    f"standard normal draws by {words}"),
            Mistake("ignores_rng", "the weights do not come from rng: draw them with "
                    "rng.standard_normal(...)"),
        ],
    )


register(Exercise(
    name="init_params_deep",
    signature="init_params_deep(layer_dims, rng)",
    notebooks=(3,),
    summary="Initialisation of an L-layer network (He's scale by default; "
    "check.init_params_deep(f, init=\"xavier\") for the sqrt(1 / n[l-1]) version).",
    checks="see the flavours",
    flavours={"he": _init_deep_flavour("he"), "xavier": _init_deep_flavour("xavier")},
    choose=lambda fn, options: options.get("init", "he"),
    options={"init": ("he", "xavier")},
))


# -- linear_forward, layer_forward, relu ---------------------------------------------------


def _layer_inputs(rng, n_prev: int, n: int, m: int, dtype=F64) -> tuple:
    return (rng.standard_normal((n_prev, m)).astype(dtype),
            rng.standard_normal((n, n_prev)).astype(dtype),
            rng.standard_normal((n, 1)).astype(dtype))


def _layer_cases(rng) -> list[Case]:
    return [  # a square W first, so that using Wᵀ gives an answer instead of an error
        Case(_layer_inputs(rng, 4, 4, 7), "n[l-1] = n[l] = 4, m = 7"),
        Case(_layer_inputs(rng, 5, 3, 1), "n[l-1] = 5, n[l] = 3, one example"),
        Case(_layer_inputs(rng, 6, 2, 9, np.float32), "float32, n[l-1] = 6, n[l] = 2, m = 9"),
    ]


def _linear(A_prev, W, b):
    return dense(W, b, None).forward(np.asarray(A_prev, F64))


def _square_only(f):
    def variant(A_prev, W, b, *rest):
        return f(A_prev, W, b, *rest) if W.shape[0] == W.shape[1] else None

    return variant


register(Exercise(
    name="linear_forward",
    signature="linear_forward(A_prev, W, b)",
    notebooks=(3,),
    summary="The linear step of a layer, Z = W A_prev + b: (n[l], m) from A_prev "
    "(n[l-1], m), W (n[l], n[l-1]), b (n[l], 1).",
    checks="a square W with 7 examples, one example, float32 with 9 examples; compared "
    "with a linear dlcore Dense layer.",
    cases=_layer_cases,
    reference=_linear,
    mistakes=[
        Mistake("no_bias", "b is left out: Z = W A_prev + b",
                lambda A_prev, W, b: np.asarray(W, F64) @ A_prev),
        Mistake("W_transposed", "this uses Wᵀ: Z = W A_prev + b, with W of shape "
                "(n[l], n[l-1])", _square_only(lambda A_prev, W, b: W.T @ A_prev + b)),
        Mistake("Z_transposed", "Z is transposed, (m, n[l]): compute W @ A_prev + b, "
                "shape (n[l], m)", lambda *a: _linear(*a).T),
        Mistake("bias_summed", "b is added as one number (its sum): add the column b, "
                "one value per unit, broadcast over the m examples",
                lambda A_prev, W, b: np.asarray(W, F64) @ A_prev + np.sum(b)),
    ],
))


def _layer_forward(A_prev, W, b, g):
    Z = _linear(A_prev, W, b)
    return g(Z), Z


def _layer_forward_cases(rng) -> list[Case]:
    gs = [activations.relu, activations.sigmoid, activations.sigmoid]
    return [Case((*c.args, g), c.label + f", g = {g.__name__}")
            for c, g in zip(_layer_cases(rng), gs, strict=True)]


register(Exercise(
    name="layer_forward",
    signature="layer_forward(A_prev, W, b, g)",
    notebooks=(3,),
    summary="One layer forward: Z = W A_prev + b, A = g(Z) for the activation function g "
    "(relu or sigmoid). Returns (A, Z).",
    checks="relu with a square W and 7 examples, sigmoid with one example, sigmoid in "
    "float32; compared with dlcore Dense layers (g is dlcore's relu or sigmoid).",
    cases=_layer_forward_cases,
    reference=_layer_forward,
    unpack=tuple_of("A", "Z"),
    mistakes=[
        Mistake("swapped", "the two results come the wrong way round: return (A, Z)",
                lambda *a: _layer_forward(*a)[::-1]),
        Mistake("no_activation", "A is Z: apply the activation, A = g(Z)",
                lambda *a: (_linear(*a[:3]), _linear(*a[:3]))),
        Mistake("Z_is_A", "the Z returned is g(Z): return the linear step W A_prev + b as Z",
                lambda *a: (_layer_forward(*a)[0],) * 2),
        Mistake("no_bias", "b is left out: Z = W A_prev + b",
                lambda A_prev, W, b, g: _layer_forward(A_prev, W, 0 * b, g)),
    ],
))


def _relu_cases(rng) -> list[Case]:
    return [
        Case((rng.standard_normal((3, 5)),), "float64 Z of shape (3, 5)"),
        Case((rng.standard_normal((4, 1)),), "Z of shape (4, 1)"),
        Case((rng.standard_normal((2, 7)).astype(np.float32),), "float32 Z of shape (2, 7)"),
    ]


register(Exercise(
    name="relu",
    signature="relu(Z)",
    notebooks=(3,),
    summary="relu(Z) = max(Z, 0), elementwise, same shape as Z.",
    checks="float64 and float32 arrays, one column; compared with dlcore.activations.relu.",
    cases=_relu_cases,
    reference=lambda Z: activations.relu(np.asarray(Z, F64)),
    mistakes=[
        Mistake("column_max", "this is the largest entry of each column (np.max(Z, 0) "
                "reduces over an axis): relu is elementwise, np.maximum(Z, 0)",
                lambda Z: np.max(Z, axis=0)),
        Mistake("derivative", "this is relu's derivative (1 where Z > 0, else 0): relu "
                "itself is max(Z, 0)", lambda Z: (Z > 0).astype(F64)),
        Mistake("abs", "negative entries come out as −Z: relu sets them to 0", np.abs),
        Mistake("negative_part", "this keeps the negative part, min(Z, 0): relu keeps the "
                "positive part, max(Z, 0)", lambda Z: np.minimum(Z, 0)),
        Mistake("leaky", "negative entries come out as 0.01 Z (leaky ReLU): relu sets them "
                "to 0", lambda Z: activations.leaky_relu(np.asarray(Z, F64))),
    ],
))


# -- model_forward ------------------------------------------------------------------------


def _deep_params(rng, dims, dtype=F64) -> list:
    return [(rng.standard_normal((n, n_prev)).astype(dtype) * np.sqrt(2 / n_prev),
             rng.standard_normal((n, 1)).astype(dtype) * 0.3)
            for n_prev, n in zip(dims[:-1], dims[1:], strict=True)]


DEEP_SHAPES = [([4, 5, 3, 1], 7, F64), ([3, 4, 1], 1, F64), ([5, 6, 4, 2, 1], 9, np.float32)]


def _model_forward_cases(rng) -> list[Case]:
    cases = []
    for dims, m, dtype in DEEP_SHAPES:
        X = rng.standard_normal((dims[0], m)).astype(dtype)
        cases.append(Case((X, _deep_params(rng, dims, dtype)),
                          f"layer_dims = {dims}, m = {m}, {np.dtype(dtype).name}"))
    return cases


def _run_forward(X, params, hidden=activations.relu, output=activations.sigmoid,
                 use_b=True, cache="A", stale=False):
    """The L-layer forward pass written out, with switches for the known mistakes."""
    A, caches, L = np.asarray(X, F64), [], len(params)
    for k, (W, b) in enumerate(params, start=1):
        A_prev = A
        Z = np.asarray(W, F64) @ A_prev + (np.asarray(b, F64) if use_b else 0)
        A = output(Z) if k == L else hidden(Z)
        caches.append((A if stale else A_prev, A if cache == "A" else Z))
    return A, caches


def _model_forward_flavour(cache: str) -> Exercise:
    second = cache
    other = "Z" if cache == "A" else "A"

    def unpack(result):
        if not isinstance(result, tuple | list) or len(result) != 2:
            raise StructureError(f"should return 2 values (AL, caches), got "
                                 f"{len(result) if isinstance(result, tuple | list) else 1}")
        AL, caches = result
        if not isinstance(caches, tuple | list):
            raise StructureError(f"caches should be a list of (A_prev, {second}) pairs, one "
                                 f"per layer, got {type(caches).__name__}")
        parts = {"AL": AL}
        for i, c in enumerate(caches):
            if not isinstance(c, tuple | list) or len(c) != 2:
                raise StructureError(f"caches[{i}] should be a pair (A_prev, {second})")
            parts[f"caches[{i}] A_prev"], parts[f"caches[{i}] {second}"] = c
        return parts

    def reference(X, params):
        model = network(params)
        A, caches = np.asarray(X, F64), []
        for layer in model.layers:
            A_prev = A
            A = layer.forward(A_prev)
            caches.append((A_prev, A if cache == "A" else _linear(A_prev, *layer.params.values())))
        return A, caches

    def layer_count(got, expected, case):
        return sum(k.endswith("A_prev") for k in got) != len(case.args[1])

    return Exercise(
        name="model_forward",
        signature="model_forward(X, params)",
        notebooks=(3,),
        summary="The forward pass of the L-layer network: ReLU layers 1..L−1, a sigmoid "
        f"layer L. Returns (AL, caches), caches[l − 1] = (A_prev, {second}) of layer l.",
        checks="three networks (3 layers with 7 examples; 2 layers with one example; 4 "
        "layers in float32 with 9 examples); compared with a dlcore Sequential of Dense "
        "layers, and each cache with that layer's input and output.",
        cases=_model_forward_cases,
        reference=reference,
        unpack=unpack,
        mistakes=[
            Mistake("layer_count", "caches should hold one entry per layer (L = len(params))",
                    test=layer_count),
            Mistake("relu_output", "the output layer uses ReLU: A[L] = σ(Z[L]), a "
                    "probability", lambda X, p: _run_forward(X, p, output=activations.relu,
                                                             cache=cache)),
            Mistake("sigmoid_hidden", "the hidden layers use the sigmoid: they use ReLU, "
                    "only the output layer is a sigmoid",
                    lambda X, p: _run_forward(X, p, hidden=activations.sigmoid, cache=cache)),
            Mistake("no_bias", "b is left out: Z[l] = W[l] A[l-1] + b[l]",
                    lambda X, p: _run_forward(X, p, use_b=False, cache=cache)),
            Mistake("stale_cache", "{part} holds the layer's output: store the layer's "
                    "input A_prev (before A is overwritten)",
                    lambda X, p: _run_forward(X, p, cache=cache, stale=True)),
            Mistake(f"caches_{other}", f"{{part}} holds {other}: this notebook caches "
                    f"(A_prev, {second})" + (" — or call check.model_forward(model_forward, "
                                             "cache=\"Z\")" if cache == "A" else ""),
                    lambda X, p: _run_forward(X, p, cache=other)),
        ],
    )


register(Exercise(
    name="model_forward",
    signature="model_forward(X, params)",
    notebooks=(3,),
    summary="The L-layer forward pass (caches of (A_prev, A) by default; cache=\"Z\" for "
    "(A_prev, Z)).",
    checks="see the flavours",
    flavours={"A": _model_forward_flavour("A"), "Z": _model_forward_flavour("Z")},
    choose=lambda fn, options: options.get("cache", "A"),
    options={"cache": ("A", "Z")},
))


# -- linear_backward ----------------------------------------------------------------------


def _linear_backward_cases(rng) -> list[Case]:
    cases = []
    for n_prev, n, m, dtype in [(4, 4, 7, F64), (5, 3, 1, F64), (6, 2, 9, np.float32)]:
        A_prev, W, _ = _layer_inputs(rng, n_prev, n, m, dtype)
        dZ = rng.standard_normal((n, m)).astype(dtype)
        cases.append(Case((dZ, A_prev, W), f"n[l-1] = {n_prev}, n[l] = {n}, m = {m}, "
                          f"{np.dtype(dtype).name}", {"m": m}))
    return cases


def _linear_backward(dZ, A_prev, W):
    layer = dense(W, np.zeros((W.shape[0], 1)), None)
    layer.forward(np.asarray(A_prev, F64))
    dA_prev = layer.backward_dZ(np.asarray(dZ, F64))
    return dA_prev, layer.grads["W"], layer.grads["b"]


def _lb_parts(f):
    def variant(dZ, A_prev, W):
        dZ, A_prev, W = _f64(dZ, A_prev, W)
        return Parts(f(dZ, A_prev, W, A_prev.shape[1]))

    return variant


register(Exercise(
    name="linear_backward",
    signature="linear_backward(dZ, A_prev, W)",
    notebooks=(3,),
    summary="The linear step backwards: dW = dZ A_prevᵀ / m, db = Σ dZ / m over the "
    "examples (n[l], 1), dA_prev = Wᵀ dZ (no 1/m). Returns (dA_prev, dW, db).",
    checks="a square W with 7 examples, one example, float32 with 9 examples; compared "
    "with dlcore's Dense.backward_dZ.",
    cases=_linear_backward_cases,
    reference=_linear_backward,
    unpack=tuple_of("dA_prev", "dW", "db"),
    mistakes=[
        Mistake("no_mean", "{part} is m times too large: the 1/m is missing",
                _lb_parts(lambda dZ, A, W, m: {"dW": dZ @ A.T, "db": dZ.sum(1, keepdims=True)}),
                first_wrong_only=True),
        Mistake("dA_prev_mean", "dA_prev is divided by m: only dW and db take the 1/m, "
                "dA_prev = Wᵀ dZ", _lb_parts(lambda dZ, A, W, m: {"dA_prev": W.T @ dZ / m})),
        Mistake("W_not_transposed", "dA_prev uses W instead of Wᵀ: dA_prev = Wᵀ dZ",
                lambda dZ, A, W: Parts(dA_prev=np.asarray(W, F64) @ dZ)
                if W.shape[0] == W.shape[1] else None),
        Mistake("dW_transposed", "dW is transposed: dW = dZ A_prevᵀ / m has the shape of W",
                _lb_parts(lambda dZ, A, W, m: {"dW": (dZ @ A.T / m).T})),
        Mistake("db_no_keepdims", "db has lost its column shape: sum with keepdims=True, "
                "so that db is (n[l], 1) like b",
                _lb_parts(lambda dZ, A, W, m: {"db": dZ.sum(axis=1) / m})),
        Mistake("db_wrong_axis", "db sums over the wrong axis: sum over the examples, "
                "axis=1", _lb_parts(lambda dZ, A, W, m: {"db": dZ.sum(axis=0, keepdims=True) / m})),
        Mistake("db_total", "db is one number, the sum of all of dZ: sum over the examples "
                "only, np.sum(dZ, axis=1, keepdims=True) / m",
                _lb_parts(lambda dZ, A, W, m: {"db": np.sum(dZ) / m})),
    ],
))


# -- relu_backward and sigmoid_backward ----------------------------------------------------


def _choose_at(fn, options) -> str:
    if "at" in options:
        return options["at"]
    names = parameter_names(fn)
    second = names[1] if len(names) > 1 else ""
    return "A" if second[:1] in ("A", "a") else "Z"


def _act_cases(rng, at: str, g) -> list[Case]:
    cases = []
    for shape, dtype in [((4, 6), F64), ((3, 1), F64), ((2, 9), np.float32)]:
        Z = rng.standard_normal(shape)
        Z.flat[::5] = 0.0  # exact zeros: where > and >= differ
        dA = rng.standard_normal(shape)
        second = Z if at == "Z" else g(Z)
        cases.append(Case((dA.astype(dtype), second.astype(dtype)),
                          f"shape {shape}, {np.dtype(dtype).name}"))
    return cases


def _relu_backward_flavour(at: str) -> Exercise:
    def ref(dA, second):
        dA, second = _f64(dA, second)
        return activations.relu_backward(dA, activations.relu(second))

    if at == "Z":
        geq = "uses Z ≥ 0: relu's gradient is 0 at Z = 0 as well, use Z > 0"
        extra = Mistake("no_mask", "returns dA unchanged: set it to 0 where Z ≤ 0, "
                        "dZ = dA · (Z > 0)", lambda dA, Z: dA)
    else:
        geq = ("lets every entry through: A ≥ 0 holds everywhere (A = relu(Z)), so use "
               "A > 0, dZ = dA · (A > 0)")
        extra = Mistake("times_A", "multiplies dA by A: relu's derivative is 1 where A > 0, "
                        "else 0, dZ = dA · (A > 0)", lambda dA, A: dA * A)
    return Exercise(
        name="relu_backward",
        signature=f"relu_backward(dA, {at})",
        notebooks=(3,),
        summary=f"dZ = dA · relu′, from the layer's {'Z' if at == 'Z' else 'output A = relu(Z)'}"
        f": dZ = dA where {at} > 0, else 0.",
        checks=f"three shapes (one with a single column, one float32), {at} with exact "
        "zeros; compared with dlcore.activations.relu_backward.",
        cases=lambda rng: _act_cases(rng, at, activations.relu),
        reference=ref,
        mistakes=[
            Mistake("geq", geq, lambda dA, s: dA * (s >= 0)),
            extra,
            Mistake("returns_mask", f"returns the mask ({at} > 0) alone: multiply it by dA",
                    lambda dA, s: (s > 0).astype(F64)),
            Mistake("mask_inverted", f"the mask is inverted: dA passes where {at} > 0 and "
                    "becomes 0 elsewhere", lambda dA, s: dA * (s <= 0)),
            Mistake("relu_of_dA", f"applies relu to dA: whether dA passes depends on {at} "
                    "(> 0), not on the sign of dA", lambda dA, s: np.maximum(dA, 0)),
        ],
    )


def _sigmoid_backward_flavour(at: str) -> Exercise:
    sig = activations.sigmoid

    def ref(dA, second):
        dA, second = _f64(dA, second)
        return activations.sigmoid_backward(dA, sig(second) if at == "Z" else second)

    if at == "Z":
        specific = [
            Mistake("at_Z", "computes Z(1 − Z): the formula s(1 − s) takes s = σ(Z), not Z "
                    "itself", lambda dA, Z: dA * Z * (1 - Z)),
            Mistake("no_dA", "returns σ′(Z) alone: multiply by dA, dZ = dA · s(1 − s)",
                    lambda dA, Z: sig(Z) * (1 - sig(Z))),
            Mistake("s_only", "dZ = dA · s: the derivative is s(1 − s), s = σ(Z)",
                    lambda dA, Z: dA * sig(Z)),
            Mistake("tanh_formula", "uses 1 − s², tanh's derivative: the sigmoid's is "
                    "s(1 − s)", lambda dA, Z: dA * (1 - sig(Z) ** 2)),
        ]
    else:
        specific = [
            Mistake("at_A", "applies σ to A again: A is already σ(Z), so dZ = dA · A(1 − A)",
                    lambda dA, A: dA * sig(A) * (1 - sig(A))),
            Mistake("no_dA", "returns A(1 − A) alone: multiply by dA, dZ = dA · A(1 − A)",
                    lambda dA, A: A * (1 - A)),
            Mistake("A_only", "dZ = dA · A: the derivative is A(1 − A)", lambda dA, A: dA * A),
            Mistake("tanh_formula", "uses 1 − A², tanh's derivative: the sigmoid's is "
                    "A(1 − A)", lambda dA, A: dA * (1 - A**2)),
        ]
    return Exercise(
        name="sigmoid_backward",
        signature=f"sigmoid_backward(dA, {at})",
        notebooks=(3,),
        summary=f"dZ = dA · σ′(Z) = dA · s(1 − s) with s = {'σ(Z)' if at == 'Z' else 'A'}.",
        checks="three shapes (one with a single column, one float32); compared with "
        "dlcore.activations.sigmoid_backward.",
        cases=lambda rng: _act_cases(rng, at, sig),
        reference=ref,
        mistakes=[*specific, Mistake("sign", "dZ has the wrong sign: dZ = dA · "
                                     + ("s(1 − s)" if at == "Z" else "A(1 − A)"),
                                     lambda dA, s: -ref(dA, s))],
    )


for _name, _make in [("relu_backward", _relu_backward_flavour),
                     ("sigmoid_backward", _sigmoid_backward_flavour)]:
    register(Exercise(
        name=_name,
        signature=f"{_name}(dA, Z)",
        notebooks=(3,),
        summary=f"{_name} from Z, or from the layer's output A — chosen by the name of the "
        f"second parameter, or check.{_name}(f, at=\"A\").",
        checks="see the flavours",
        flavours={"Z": _make("Z"), "A": _make("A")},
        choose=_choose_at,
        options={"at": ("Z", "A")},
    ))


# -- model_backward -----------------------------------------------------------------------


def _model_backward_cases(rng, cache: str) -> list[Case]:
    cases = []
    for dims, m, dtype in DEEP_SHAPES:
        X = rng.standard_normal((dims[0], m)).astype(dtype)
        params = _deep_params(rng, dims, dtype)
        AL, caches = _run_forward(X, params, cache=cache)
        caches = [(a.astype(dtype), c.astype(dtype)) for a, c in caches]
        Y = labels01(rng, m).astype(dtype)
        cases.append(Case((AL.astype(dtype), Y, params, caches),
                          f"layer_dims = {dims}, m = {m}, {np.dtype(dtype).name}", {"m": m}))
    return cases


def _model_backward(AL, Y, params, caches):
    model = network(params)
    model.forward(np.asarray(caches[0][0], F64))
    model.backward(np.asarray(Y, F64))
    return [(layer.grads["W"], layer.grads["b"]) for layer in model.layers]


def _backprop(AL, Y, params, caches, cache, hidden_grad=None, sign=1.0, scale=1.0):
    """The L-layer backward pass written out, with switches for the known mistakes."""
    L, grads, dA = len(params), [None] * len(params), None
    dZ = sign * (np.asarray(AL, F64) - Y)
    for k in range(L, 0, -1):
        A_prev, second = _f64(*caches[k - 1])
        if k < L:
            A = second if cache == "A" else activations.relu(second)
            dZ = hidden_grad(dA, second) if hidden_grad else activations.relu_backward(dA, A)
        m = A_prev.shape[1]
        grads[k - 1] = (scale * dZ @ A_prev.T / m, scale * dZ.sum(axis=1, keepdims=True) / m)
        dA = np.asarray(params[k - 1][0], F64).T @ dZ
    return grads


def _model_backward_flavour(cache: str) -> Exercise:
    unpack = per_layer("dW", "db", container="a list of grads")

    def scaled(factor):
        def variant(AL, Y, params, caches):
            parts = unpack(_backprop(AL, Y, params, caches, cache))
            return Parts({k: v * factor(Y.shape[1]) for k, v in parts.items()})

        return variant

    def sigmoid_hidden(dA, second):  # sigmoid_backward(dA, cache) in place of relu's
        s = second if cache == "A" else activations.sigmoid(second)
        return dA * s * (1 - s)

    mask = "(A[l] > 0)" if cache == "A" else "(Z[l] > 0)"
    return Exercise(
        name="model_backward",
        signature="model_backward(AL, Y, params, caches)",
        notebooks=(3,),
        summary="Backpropagation through the L layers: dZ[L] = AL − Y, then for k = L..1 "
        f"dW[l] = dZ A_prevᵀ / m, db[l] = Σ dZ / m, dA[l-1] = W[l]ᵀ dZ and dZ[l-1] = dA[l-1] · "
        f"relu′. Returns grads, a list of (dW, db) per layer (caches hold (A_prev, {cache})).",
        checks="three networks (3 layers, 7 examples; 2 layers, one example; 4 layers in "
        "float32, 9 examples); compared with dlcore's Sequential.backward.",
        cases=lambda rng: _model_backward_cases(rng, cache),
        reference=_model_backward,
        unpack=unpack,
        mistakes=[
            Mistake("dZL_sign", "every gradient has the wrong sign: dZ[L] = A[L] − Y",
                    scaled(lambda m: -1)),
            Mistake("no_mean", "{part} is m times too large: the 1/m is missing",
                    scaled(lambda m: m), first_wrong_only=True),
            Mistake("double_mean", "{part} is m times too small: the 1/m is taken twice "
                    "(dZ[L] = A[L] − Y has no 1/m; only dW and db do)",
                    scaled(lambda m: 1 / m), first_wrong_only=True),
            Mistake("reversed", "the gradients come in reverse order: grads[0] belongs to "
                    "layer 1 (the list goes from the first layer to the last)",
                    lambda *a: _backprop(*a, cache)[::-1]),
            Mistake("no_relu_derivative", "the hidden layers skip relu's derivative: "
                    f"dZ[l] = dA[l] · {mask}",
                    lambda *a: _backprop(*a, cache, hidden_grad=lambda dA, A: dA)),
            Mistake("sigmoid_hidden", "the hidden layers use the sigmoid's derivative: they "
                    f"are ReLU layers, dZ[l] = dA[l] · {mask}",
                    lambda *a: _backprop(*a, cache, hidden_grad=sigmoid_hidden)),
        ],
    )


register(Exercise(
    name="model_backward",
    signature="model_backward(AL, Y, params, caches)",
    notebooks=(3,),
    summary="Backpropagation through the L-layer network (caches of (A_prev, A) by "
    "default; cache=\"Z\" for (A_prev, Z)).",
    checks="see the flavours",
    flavours={"A": _model_backward_flavour("A"), "Z": _model_backward_flavour("Z")},
    choose=lambda fn, options: options.get("cache", "A"),
    options={"cache": ("A", "Z")},
))


# -- update_params ------------------------------------------------------------------------


def _update_params_cases(rng) -> list[Case]:
    cases = []
    for dims, lr, dtype in [([3, 4, 1], 0.7, F64), ([2, 1, 1], 0.05, F64),
                            ([4, 5, 3, 1], 1.2, np.float32)]:
        cases.append(Case((_deep_params(rng, dims, dtype), _deep_params(rng, dims, dtype), lr),
                          f"layer_dims = {dims}, lr = {lr}, {np.dtype(dtype).name}"))
    return cases


def _gd_layers(params, grads, lr):
    opt, new = GradientDescent(lr), []
    for (W, b), (dW, db) in zip(params, grads, strict=True):
        W, b = np.array(W, F64), np.array(b, F64)
        opt.update(W, np.asarray(dW, F64), None)
        opt.update(b, np.asarray(db, F64), None)
        new.append((W, b))
    return new


register(Exercise(
    name="update_params",
    signature="update_params(params, grads, lr)",
    notebooks=(3,),
    summary="One gradient-descent step on every layer: W − lr·dW, b − lr·db. Returns the "
    "new list of (W, b) (updating in place and returning the arrays is fine too).",
    checks="three networks and learning rates, one in float32; compared with "
    "dlcore.GradientDescent's update. The grads must be left as they were.",
    cases=_update_params_cases,
    reference=_gd_layers,
    unpack=per_layer("W", "b"),
    may_modify=frozenset({"params"}),
    mistakes=[
        Mistake("ascent", "the parameters move uphill: subtract the step, W − lr·dW",
                lambda params, grads, lr: [
                    (W + lr * np.asarray(dW, F64), b + lr * np.asarray(db, F64))
                    for (W, b), (dW, db) in zip(params, grads, strict=True)]),
        Mistake("no_lr", "the step leaves out the learning rate: W − lr·dW",
                lambda params, grads, lr: _gd_layers(params, grads, 1.0)),
        Mistake("returns_step", "this is the step −lr·dW: return the updated parameters, "
                "W − lr·dW", lambda params, grads, lr: [(-lr * np.asarray(dW, F64),
                                                          -lr * np.asarray(db, F64))
                                                         for dW, db in grads]),
        Mistake("b_not_updated", "{part} did not change: update the biases too",
                lambda params, grads, lr: Parts({f"b[{k}]": b for k, (_, b) in
                                                 enumerate(params, start=1)}),
                first_wrong_only=True),
    ],
))


# The notebook's order, sigmoid (notebook 01's) and compute_cost (notebook 02's) included:
set_order(3, ("init_params_deep", "linear_forward", "relu", "sigmoid", "layer_forward",
              "model_forward", "compute_cost", "linear_backward", "relu_backward",
              "sigmoid_backward", "model_backward", "update_params"))
