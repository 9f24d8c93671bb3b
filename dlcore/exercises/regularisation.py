"""Exercises of notebook 05, initialisation, regularisation and gradient checking:
he_init, l2_cost, l2_grad, dropout_forward, dropout_backward and gradient_check.
"""

from __future__ import annotations

import copy

import numpy as np

from dlcore.exercises.engine import (
    Case,
    Exercise,
    Mistake,
    Parts,
    Runner,
    StructureError,
    register,
    tuple_of,
)
from dlcore.exercises.properties import (
    as_array,
    expect_shape,
    follows_rng,
    spread,
    unpack_or_fail,
)
from dlcore.exercises.references import F64, labels01
from dlcore.gradcheck import check_model
from dlcore.layers import Dense, Dropout
from dlcore.model import Sequential

# -- he_init ------------------------------------------------------------------------------


def _he_init_procedure(r: Runner) -> None:
    W = as_array(r, "W", r.call(4, 3, np.random.default_rng(0)))
    expect_shape(r, "W", W, (4, 3), "transposed")
    r.passed()
    n_out, n_in = 200, 300
    W = as_array(r, "W", r.call(n_out, n_in, np.random.default_rng(1)))
    expect_shape(r, "W", W, (n_out, n_in), "transposed")
    scales = {
        "xavier": np.sqrt(1 / n_in),
        "glorot": np.sqrt(2 / (n_in + n_out)),
        "fan_out": np.sqrt(2 / n_out),
        "no_sqrt": 2 / n_in,
        "no_scale": 1.0,
    }
    spread(r, "W", W, np.sqrt(2 / n_in), scales, "standard normal draws times sqrt(2 / n_in)")
    r.passed(2)
    follows_rng(r, lambda rng: r.call(4, 3, rng))
    r.passed()


register(Exercise(
    name="he_init",
    signature="he_init(n_out, n_in, rng)",
    notebooks=(5,),
    summary="He initialisation for a ReLU layer: W = N(0, 1)·sqrt(2 / n_in) of shape "
    "(n_out, n_in), drawn from the Generator rng.",
    checks="properties: the shape (4, 3), the spread of 60,000 draws for n_out = 200, "
    "n_in = 300 (mean 0, standard deviation sqrt(2 / 300)), and that the draws follow rng.",
    procedure=_he_init_procedure,
    mistakes=[
        Mistake("transposed", "W has shape {got}: W is (n_out, n_in), here {shape}"),
        Mistake("zeros", "W is all zeros: draw random weights"),
        Mistake("uniform", "the weights are all positive: draw from the standard normal, "
                "rng.standard_normal((n_out, n_in))"),
        Mistake("xavier", "the weights spread with standard deviation {std}, sqrt(1 / n_in) "
                "(Xavier's): He's scale is sqrt(2 / n_in), twice the variance for ReLU"),
        Mistake("glorot", "the weights spread with standard deviation {std}, "
                "sqrt(2 / (n_in + n_out)) (Glorot's average of fan-in and fan-out): He's "
                "scale uses n_in only, sqrt(2 / n_in)"),
        Mistake("fan_out", "the weights are scaled by n_out: He's scale uses the layer's "
                "inputs, sqrt(2 / n_in)"),
        Mistake("no_sqrt", "the weights spread with standard deviation {std}: the scale is "
                "the square root, sqrt(2 / n_in)"),
        Mistake("no_scale", "the weights are not scaled: multiply the standard normal draws "
                "by sqrt(2 / n_in)"),
        Mistake("ignores_rng", "the weights do not come from rng: draw them with "
                "rng.standard_normal((n_out, n_in))"),
    ],
))


# -- L2 regularisation ----------------------------------------------------------------------


def _model(rng, dims, dtype=F64) -> Sequential:
    layers = [Dense(n_in, n_out, "relu" if i < len(dims) - 2 else "sigmoid", rng=rng, dtype=dtype)
              for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True))]
    return Sequential(layers, loss="binary_cross_entropy")


L2_SETTINGS = [([3, 5, 4, 1], 7, 0.7, F64), ([4, 6, 1], 13, 0.1, np.float32),
               ([2, 3, 1], 1, 2.0, F64)]  # m = 1 last: there the 1/m changes nothing


def _l2_cost_cases(rng) -> list[Case]:
    cases = []
    for dims, m, lambd, dtype in L2_SETTINGS:
        model = _model(rng, dims, dtype)
        X, Y = rng.standard_normal((dims[0], m)), labels01(rng, m)
        A = model.forward(X)
        weights = [layer.params["W"].copy() for layer in model.layers]
        cases.append(Case((model.cost(A, Y), weights, lambd, m),
                          f"{len(weights)} layers, lambd = {lambd}, m = {m}, "
                          f"{np.dtype(dtype).name}", expected=model.cost(A, Y, l2=lambd)))
    return cases


def _l2_term(weights, lambd, m, norm=lambda W: np.sum(np.square(W))):
    return lambd / (2 * m) * sum(norm(np.asarray(W, F64)) for W in weights)


register(Exercise(
    name="l2_cost",
    signature="l2_cost(J, weights, lambd, m)",
    notebooks=(5,),
    summary="The cost with L2 regularisation, J + (λ / 2m) Σ_l ‖W[l]‖² (the sum of every "
    "squared weight of every layer): a number.",
    checks="three networks (3 layers, m = 7; float32 weights, m = 13; m = 1) at three λ; "
    "compared with dlcore's Sequential.cost(A, Y, l2=λ).",
    cases=_l2_cost_cases,
    unpack=tuple_of("the cost", scalars=("the cost",)),
    mistakes=[
        Mistake("no_half", "the L2 term is twice too large: it is (λ / 2m) Σ ‖W‖², the ½ "
                "is missing", lambda J, Ws, lambd, m: J + 2 * _l2_term(Ws, lambd, m)),
        Mistake("no_m", "the L2 term is m times too large: it is (λ / 2m) Σ ‖W‖², the 1/m "
                "is missing", lambda J, Ws, lambd, m: J + m * _l2_term(Ws, lambd, m)),
        Mistake("no_half_no_m", "the L2 term is 2m times too large: it is (λ / 2m) Σ ‖W‖², "
                "both the ½ and the 1/m are missing",
                lambda J, Ws, lambd, m: J + 2 * m * _l2_term(Ws, lambd, m)),
        Mistake("term_only", "this is the L2 term alone: add it to the cost J",
                lambda J, Ws, lambd, m: _l2_term(Ws, lambd, m)),
        Mistake("sign", "the L2 term is subtracted: the penalty is added, "
                "J + (λ / 2m) Σ ‖W‖²", lambda J, Ws, lambd, m: J - _l2_term(Ws, lambd, m)),
        Mistake("not_squared", "the L2 term sums the norms ‖W‖ unsquared: sum the squares "
                "of the weights, np.sum(W ** 2)",
                lambda J, Ws, lambd, m: J + _l2_term(Ws, lambd, m, np.linalg.norm)),
        Mistake("l1", "the term sums |W| (that is L1): L2 sums the squares, np.sum(W ** 2)",
                lambda J, Ws, lambd, m: J + _l2_term(Ws, lambd, m, lambda W: np.sum(np.abs(W)))),
        Mistake("last_layer_only", "the L2 term counts only the last layer's weights: sum "
                "over every layer", lambda J, Ws, lambd, m: J + _l2_term(Ws[-1:], lambd, m)),
    ],
))


def _l2_grad_cases(rng) -> list[Case]:
    cases = []
    for dims, m, lambd, dtype in L2_SETTINGS:
        model = _model(rng, dims, dtype)
        X, Y = rng.standard_normal((dims[0], m)), labels01(rng, m)
        model.forward(X)
        model.backward(Y)
        layer = model.layers[0]
        dW, W = layer.grads["W"].copy(), layer.params["W"].copy()
        model.backward(Y, l2=lambd)
        cases.append(Case((dW, W, lambd, m), f"W of shape {W.shape}, lambd = {lambd}, m = {m}, "
                          f"{np.dtype(dtype).name}", expected=layer.grads["W"].copy()))
    return cases


def _grad_with(term):
    return lambda dW, W, lambd, m: np.asarray(dW, F64) + term(np.asarray(W, F64), lambd, m,
                                                            np.asarray(dW, F64))


register(Exercise(
    name="l2_grad",
    signature="l2_grad(dW, W, lambd, m)",
    notebooks=(5,),
    summary="The weight gradient with L2 regularisation, dW + (λ / m) W (the derivative of "
    "(λ / 2m) W² is (λ / m) W).",
    checks="the first layer of three networks (m = 7, 13 in float32, 1) at three λ; "
    "compared with dlcore's Sequential.backward(Y, l2=λ).",
    cases=_l2_grad_cases,
    unpack=tuple_of("dW"),
    mistakes=[
        Mistake("no_m", "the L2 part of dW is m times too large: it is (λ / m) W, the 1/m is "
                "missing", _grad_with(lambda W, lambd, m, dW: lambd * W)),
        Mistake("halved", "the L2 part of dW is half of (λ / m) W: the ½ of the cost cancels "
                "with the 2 of d(W²)/dW = 2W",
                _grad_with(lambda W, lambd, m, dW: lambd / (2 * m) * W)),
        Mistake("term_only", "this is the L2 part alone: add it to dW, dW + (λ / m) W",
                lambda dW, W, lambd, m: lambd / m * np.asarray(W, F64)),
        Mistake("uses_dW", "the L2 part is (λ / m) dW: it is (λ / m) W, the weights "
                "themselves", _grad_with(lambda W, lambd, m, dW: lambd / m * dW)),
        Mistake("sign", "the L2 part is subtracted: dW + (λ / m) W",
                _grad_with(lambda W, lambd, m, dW: -lambd / m * W)),
        Mistake("squared", "the L2 part is (λ / m) W²: the derivative of W² is 2W, so the "
                "part is (λ / m) W", _grad_with(lambda W, lambd, m, dW: lambd / m * W**2)),
    ],
))


# -- dropout ------------------------------------------------------------------------------


def _dropout_forward_procedure(r: Runner) -> None:
    unpack = tuple_of("A_tilde", "D")
    rng = r.rng
    for shape, keep_prob, dtype in [((4, 6), 0.8, F64), ((3, 1), 0.6, F64),
                                    ((5, 7), 0.7, np.float32)]:
        A = rng.uniform(0.5, 1.5, shape).astype(dtype)
        got = unpack_or_fail(r, unpack, r.call(A, keep_prob, np.random.default_rng(7)))
        A_tilde, D = as_array(r, "A_tilde", got["A_tilde"]), as_array(r, "D", got["D"])
        expect_shape(r, "A_tilde", A_tilde, shape)
        if D.shape != shape and D.ndim == 2 and D.shape[0] == shape[0] and D.shape[1] == 1:
            r.mistake("shared_mask")
        expect_shape(r, "D", D, shape)
        values = set(np.unique(np.round(D, 9)).tolist())
        if values <= {0.0, round(1 / keep_prob, 9)} and round(1 / keep_prob, 9) in values:
            r.mistake("D_scaled")
        if not values <= {0.0, 1.0}:
            r.fail(f"D should hold 0 and 1 (or False and True), the mask; got values such as "
                   f"{sorted(values)[:3]}")
        rtol = 1e-4 if dtype == np.float32 else 1e-6
        tol = dict(rtol=rtol, atol=rtol)
        if not np.allclose(A_tilde, A * D / keep_prob, **tol):
            if np.allclose(A_tilde, A * D, **tol):
                r.mistake("no_rescale")
            if np.allclose(A_tilde, A * D * keep_prob, **tol):
                r.mistake("times_keep_prob")
            if np.allclose(A_tilde, A * (1 - D) / keep_prob, **tol):
                r.mistake("mask_mismatch")
            r.fail(f"A_tilde is not A · D / keep_prob for the mask D it returned "
                   f"(keep_prob = {keep_prob}, A of shape {shape})")
        r.passed()
    n, m, keep_prob = 300, 200, 0.7
    got = unpack_or_fail(r, unpack, r.call(np.ones((n, m)), keep_prob, np.random.default_rng(8)))
    D = as_array(r, "D", got["D"])
    if D.shape == (n, m) and np.all(D == D[:, :1]):
        r.mistake("shared_mask")
    rate, sd = float(np.mean(D != 0)), np.sqrt(keep_prob * (1 - keep_prob) / D.size)
    if abs(rate - keep_prob) > 5 * sd:
        if abs(rate - (1 - keep_prob)) <= 5 * sd:
            r.mistake("inverted_mask", rate=f"{rate:.3f}", keep_prob=keep_prob)
        r.fail(f"D keeps {rate:.3f} of the units, expected about keep_prob = {keep_prob} "
               "(rng.random(A.shape) < keep_prob)")
    r.passed()
    follows_rng(r, lambda rng: unpack(r.call(np.ones((6, 5)), 0.5, rng))["D"])
    r.passed()


register(Exercise(
    name="dropout_forward",
    signature="dropout_forward(A, keep_prob, rng)",
    notebooks=(5,),
    summary="Inverted dropout in training: a mask D of A's shape, each entry kept (1) with "
    "probability keep_prob (rng.random(A.shape) < keep_prob), and A_tilde = A · D / "
    "keep_prob. Returns (A_tilde, D).",
    checks="properties: shapes, D holds 0/1, A_tilde = A · D / keep_prob for the D "
    "returned (three shapes, one float32), the share kept of 60,000 units (keep_prob = "
    "0.7), a mask drawn per entry, and that the draws follow rng. A is left unchanged.",
    procedure=_dropout_forward_procedure,
    mistakes=[
        Mistake("no_rescale", "the kept units are not divided by keep_prob: inverted dropout "
                "scales them, A · D / keep_prob, so the expected activation stays the same"),
        Mistake("times_keep_prob", "the kept units are multiplied by keep_prob: divide by it, "
                "A · D / keep_prob"),
        Mistake("inverted_mask", "D keeps {rate} of the units, 1 − keep_prob: keep a unit "
                "when rng.random(...) < keep_prob"),
        Mistake("shared_mask", "every example gets the same mask: draw one for every entry "
                "of A, rng.random(A.shape)"),
        Mistake("D_scaled", "D holds 1 / keep_prob for kept units: return the 0/1 mask "
                "(True = kept) and put the 1 / keep_prob in A_tilde"),
        Mistake("mask_mismatch", "A_tilde keeps the units D drops: multiply by the mask, "
                "A · D"),
        Mistake("ignores_rng", "the mask does not come from rng: draw it with "
                "rng.random(A.shape)"),
    ],
))


def _dropout_backward_cases(rng) -> list[Case]:
    cases = []
    for shape, keep_prob, dtype, boolean in [((4, 6), 0.8, F64, True), ((3, 1), 0.6, F64, False),
                                             ((5, 7), 0.7, np.float32, True)]:
        layer = Dropout(keep_prob, rng=int(rng.integers(1000)))
        layer.forward(rng.uniform(0.5, 1.5, shape).astype(dtype), training=True)
        dA = rng.standard_normal(shape).astype(dtype)
        expected = layer.backward(dA)
        D = layer.D if boolean else layer.D.astype(dtype)
        cases.append(Case((dA, D, keep_prob), f"shape {shape}, keep_prob = {keep_prob}, "
                          f"D as {D.dtype.name}", expected=expected))
    return cases


register(Exercise(
    name="dropout_backward",
    signature="dropout_backward(dA_tilde, D, keep_prob)",
    notebooks=(5,),
    summary="The gradient through inverted dropout: dA = dA_tilde · D / keep_prob (the "
    "dropped units pass no gradient).",
    checks="three shapes (one float32), D as booleans and as 0/1 numbers; compared with "
    "dlcore's Dropout.backward with the same mask.",
    cases=_dropout_backward_cases,
    unpack=tuple_of("dA"),
    mistakes=[
        Mistake("no_rescale", "dA is not divided by keep_prob: dA = dA_tilde · D / keep_prob, "
                "as in the forward pass", lambda dA, D, kp: dA * D),
        Mistake("times_keep_prob", "dA is multiplied by keep_prob: divide by it, "
                "dA_tilde · D / keep_prob", lambda dA, D, kp: dA * D * kp),
        Mistake("no_mask", "the dropped units pass gradient: multiply by the mask D, "
                "dA_tilde · D / keep_prob", lambda dA, D, kp: dA / kp),
        Mistake("inverted_mask", "the gradient flows through the dropped units and not the "
                "kept ones: multiply by D, not 1 − D", lambda dA, D, kp: dA * (1 - D) / kp),
    ],
))


# -- gradient_check -----------------------------------------------------------------------


def _gc_unpack(result) -> dict:
    if not isinstance(result, dict):
        raise StructureError(f"should return a dict {{parameter name: (backprop, approx)}}, "
                             f"got {type(result).__name__}")
    parts = {}
    for name, pair in result.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise StructureError(f"the entry {name!r} should be a pair (backprop, approx)")
        parts[f"backprop of {name}"], parts[f"approx of {name}"] = pair
    return parts


def _gc_cases(rng) -> list[Case]:
    cases = []
    # Large eps: the centred difference then visibly differs from backprop (so swapping the
    # two shows) and the one-sided one even more; the reference uses the same eps.
    for dims, m, l2, eps in [([3, 4, 1], 5, 0.7, 0.05), ([2, 3, 2, 1], 1, 0.0, 1e-4),
                             ([4, 2, 1], 6, 1.5, 0.01)]:
        model = _model(rng, dims)
        X, Y = rng.standard_normal((dims[0], m)), labels01(rng, m)
        cases.append(Case((model, X, Y, l2, eps), f"layer_dims = {dims}, m = {m}, l2 = {l2}, "
                          f"eps = {eps}", rtol=1e-6))
    return cases


def _gc(model, X, Y, l2, eps, approx_l2=None, backprop_l2=None, one_sided=False):
    """dlcore's gradient check as {name: (backprop, approx)}, with switches for mistakes."""
    report = check_model(copy.deepcopy(model), X, Y, l2=l2 if backprop_l2 is None else backprop_l2,
                         eps=eps)
    approx = report.reference
    if approx_l2 is not None:
        approx = check_model(copy.deepcopy(model), X, Y, l2=approx_l2, eps=eps).reference
    if one_sided:
        approx = _one_sided(copy.deepcopy(model), X, Y, l2, eps)
    return {name: (report.ours[name], approx[name]) for name in report.ours}


def _one_sided(model, X, Y, l2, eps) -> dict:
    def J():
        return model.cost(model.forward(X), Y, l2)

    J0, approx = J(), {}
    for i, layer in enumerate(model.layers):
        for key, theta in layer.params.items():
            grad = np.zeros(theta.shape)
            for idx in np.ndindex(theta.shape):
                old = theta[idx]
                theta[idx] = old + eps
                grad[idx] = (J() - J0) / eps
                theta[idx] = old
            approx[f"layer{i}.{key}"] = grad
    return approx


def _gc_approx(f):
    def variant(model, X, Y, l2, eps):
        return Parts({f"approx of {k}": f(a) for k, (_, a) in _gc(model, X, Y, l2, eps).items()})

    return variant


register(Exercise(
    name="gradient_check",
    signature="gradient_check(model, X, Y, l2, eps)",
    notebooks=(5,),
    summary="For every parameter θ of every layer (name \"layer{i}.{key}\"): backprop's "
    "gradient (model.forward(X), model.backward(Y, l2), layer.grads) and the centred "
    "difference (J(θ + ε) − J(θ − ε)) / (2ε) of J = model.cost(model.forward(X), Y, l2), "
    "entry by entry, θ restored after each nudge. Returns {name: (backprop, approx)}.",
    checks="three float64 dlcore networks (one with a single example, one without L2) at "
    "eps = 1e-3 and 1e-4, where a one-sided difference is visibly off; compared with "
    "dlcore.gradcheck.check_model. The model's parameters must come back unchanged.",
    cases=_gc_cases,
    reference=_gc,
    unpack=_gc_unpack,
    may_modify=frozenset(),
    modified_mistakes={"model": "no_restore"},
    mistakes=[
        Mistake("no_restore", "the model's parameters were left nudged: put θ back "
                "(theta[i] = old) after measuring J(θ + ε) and J(θ − ε)"),
        Mistake("no_two", "{part} is twice the gradient: the centred difference divides by "
                "2ε, (J(θ + ε) − J(θ − ε)) / (2ε)", _gc_approx(lambda a: 2 * a)),
        Mistake("one_sided", "{part} is the one-sided difference (J(θ + ε) − J(θ)) / ε: use "
                "the centred one, (J(θ + ε) − J(θ − ε)) / (2ε), far more accurate",
                lambda *a: Parts({f"approx of {k}": ap for k, (_, ap) in
                                  _gc(*a, one_sided=True).items()})),
        Mistake("cost_without_l2", "{part} leaves out the L2 term: measure "
                "J = model.cost(model.forward(X), Y, l2) with l2",
                lambda *a: Parts({f"approx of {k}": ap for k, (_, ap) in
                                  _gc(*a, approx_l2=0.0).items()})),
        Mistake("backprop_without_l2", "{part} leaves out the L2 term: run "
                "model.backward(Y, l2) with l2",
                lambda *a: Parts({f"backprop of {k}": bp for k, (bp, _) in
                                  _gc(*a, backprop_l2=0.0).items()})),
        Mistake("swapped", "each entry comes the wrong way round: (backprop, approx)",
                lambda *a: {k: (ap, bp) for k, (bp, ap) in _gc(*a).items()}),
        Mistake("stale_backprop", "{part} is all zeros: run model.forward(X) and "
                "model.backward(Y, l2) before reading layer.grads",
                lambda *a: Parts({f"backprop of {k}": np.zeros_like(bp) for k, (bp, _) in
                                  _gc(*a).items()})),
    ],
))
