"""Exercises of notebook 06, optimisation: make_minibatches, momentum_update,
rmsprop_update and adam_update.

The update rules take and return plain arrays (``W`` and its state ``v``, ``s``); updating
them in place as well is fine — dlcore's optimisers do exactly that.
"""

from __future__ import annotations

import numpy as np

from dlcore.exercises.engine import Case, Exercise, Mistake, Parts, Runner, register, tuple_of
from dlcore.exercises.properties import as_array
from dlcore.exercises.references import F64
from dlcore.optim import Adam, Momentum, RMSProp

# -- make_minibatches: checked on properties ---------------------------------------------


def _batches(r: Runner, X, Y, batch_size, seed) -> list[tuple[np.ndarray, np.ndarray]]:
    result = r.call(X, Y, batch_size, seed)
    try:
        batches = list(result)
    except TypeError:
        r.fail(f"should return a list of (X_batch, Y_batch) pairs, got "
               f"{type(result).__name__}", "structure")
    out = []
    for i, pair in enumerate(batches):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            r.fail(f"item {i} should be a pair (X_batch, Y_batch)", "structure")
        out.append((as_array(r, f"X_batch {i}", pair[0]), as_array(r, f"Y_batch {i}", pair[1])))
    return out


def _order(r: Runner, X, Y, batch_size, seed) -> tuple[list[int], list[int]]:
    """Run the learner's function; check shapes and sizes; return the example ids seen in
    X's batches and in Y's batches, in order."""
    n_x, m = X.shape
    batches = _batches(r, X, Y, batch_size, seed)
    for i, (Xb, Yb) in enumerate(batches):
        if Xb.ndim == 2 and Xb.shape[1] == m and batch_size < m:
            r.mistake("wrong_axis")  # every example in one batch: the rows were cut
        if Xb.ndim != 2 or Xb.shape[0] != n_x:
            r.fail(f"X_batch {i} has shape {Xb.shape}, expected ({n_x}, k): the examples are "
                   "the columns", "shape")
        if Yb.shape != (Y.shape[0], Xb.shape[1]):
            r.fail(f"Y_batch {i} has shape {Yb.shape}, expected ({Y.shape[0]}, "
                   f"{Xb.shape[1]}) like its X_batch", "shape")
    sizes = [Xb.shape[1] for Xb, _ in batches]
    full, last = divmod(m, batch_size)
    expected = [batch_size] * full + ([last] if last else [])
    if sizes != expected:
        if sum(sizes) == n_x != m:
            r.mistake("m_from_rows", n_x=n_x, m=m)
        if last and sizes == expected[:-1]:
            r.mistake("no_last", m=m, batch_size=batch_size, last=last)
        if not last and sizes == [*expected, 0]:
            r.mistake("empty_batch", m=m, batch_size=batch_size)
        r.fail(f"the mini-batches hold {sizes} examples, expected {expected} "
               f"(m = {m}, batch_size = {batch_size})")
    columns = {tuple(np.round(X[:, j], 9)): j for j in range(m)}
    ids_x, ids_y = [], []
    for Xb, Yb in batches:
        for j in range(Xb.shape[1]):
            key = tuple(np.round(Xb[:, j], 9))
            if key not in columns:
                r.fail("the mini-batches hold columns that are not examples of X (are rows "
                       "and columns mixed up?)")
            ids_x.append(columns[key])
            ids_y.append(int(round(Yb[0, j])))
    return ids_x, ids_y


def _minibatches_procedure(r: Runner) -> None:
    rng = r.rng
    for m, batch_size in [(23, 5), (20, 5), (7, 1), (9, 16)]:
        X = rng.standard_normal((3, m))
        Y = np.arange(m, dtype=F64).reshape(1, m)  # Y holds each example's index
        ids_x, ids_y = _order(r, X, Y, batch_size, 4)
        if sorted(ids_x) != list(range(m)):
            r.mistake("duplicates")
        if ids_x != ids_y:
            r.mistake("unpaired")
        if m > 2 and ids_x == list(range(m)) and batch_size < m:
            r.mistake("not_shuffled")
        r.passed()
    X, Y = rng.standard_normal((2, 30)), np.arange(30, dtype=F64).reshape(1, 30)
    a, b, c = (_order(r, X, Y, 8, seed)[0] for seed in (1, 1, 2))
    if a != b or a == c:
        r.mistake("ignores_seed")
    r.passed()


register(Exercise(
    name="make_minibatches",
    signature="make_minibatches(X, Y, batch_size, seed)",
    notebooks=(6,),
    summary="One epoch of shuffled mini-batches: permute the m examples (columns) with "
    "np.random.default_rng(seed).permutation(m), the same order for X and Y, and cut them "
    "into batches of batch_size, the last one smaller when batch_size does not divide m. "
    "Returns a list of (X_batch, Y_batch).",
    checks="properties, not one shuffle: m = 23, 20, 7 and 9 with batch sizes 5, 5, 1 and "
    "16 — batch shapes and sizes (the last smaller, none empty), every example exactly once, "
    "X and Y shuffled alike, shuffled at all, and the same seed giving the same batches.",
    procedure=_minibatches_procedure,
    mistakes=[
        Mistake("no_last", "the last, smaller mini-batch is missing: m = {m} is not a "
                "multiple of {batch_size}, so the last batch holds the {last} left over"),
        Mistake("empty_batch", "there is an empty mini-batch at the end: m = {m} is a "
                "multiple of {batch_size}, make math.ceil(m / batch_size) batches"),
        Mistake("wrong_axis", "the batches cut the rows (features): the examples are the "
                "columns, X[:, indices]"),
        Mistake("m_from_rows", "the batches hold {n_x} examples in all, the number of rows: "
                "the examples are the columns, m = X.shape[1] = {m}"),
        Mistake("duplicates", "some examples appear twice and others never: cut the batches "
                "out of one permutation, so each example is used once per epoch"),
        Mistake("unpaired", "X and Y are shuffled differently: use the same permutation for "
                "both, X[:, order] and Y[:, order]"),
        Mistake("not_shuffled", "the examples are not shuffled: permute the columns first, "
                "order = np.random.default_rng(seed).permutation(m)"),
        Mistake("ignores_seed", "the shuffle does not follow seed: draw it from "
                "np.random.default_rng(seed), so that a seed gives the same batches"),
    ],
))


# -- momentum, RMSProp, Adam --------------------------------------------------------------


def _momentum(W, dW, v, lr, beta):
    opt = Momentum(lr, beta)
    W = np.array(W, dtype=F64)
    opt.state["p"] = {"v": np.array(v, dtype=F64)}
    opt.update(W, np.asarray(dW, F64), "p")
    return W, opt.state["p"]["v"]


def _rule_cases(rng, settings, state) -> list[Case]:
    """Cases (W, dW, state, *hyper) for an update rule; ``state(rng, shape)`` draws v or s."""
    cases = []
    for shape, dtype, hyper in settings:
        W, dW, S = (a.astype(dtype) for a in (rng.standard_normal(shape),
                                               rng.standard_normal(shape), state(rng, shape)))
        words = ", ".join(f"{k} = {v}" for k, v in hyper.items())
        cases.append(Case((W, dW, S, *hyper.values()),
                          f"shape {shape}, {np.dtype(dtype).name}, {words}"))
    return cases


def _momentum_variant(v_rule, step):
    def variant(W, dW, v, lr, beta):
        W, dW, v = (np.asarray(a, F64) for a in (W, dW, v))
        v_new = v_rule(v, dW, beta)
        return W - lr * step(v_new, v, dW), v_new

    return variant


register(Exercise(
    name="momentum_update",
    signature="momentum_update(W, dW, v, lr, beta)",
    notebooks=(6,),
    summary="One step of gradient descent with momentum: v = β v + (1 − β) dW, then "
    "W = W − lr·v. Returns (W, v).",
    checks="three steps from a non-zero velocity v (β = 0.9, 0.8, 0.95; one float32); "
    "compared with dlcore.Momentum's update.",
    cases=lambda rng: _rule_cases(rng, [
        ((3, 2), F64, {"lr": 0.1, "beta": 0.9}), ((4, 1), F64, {"lr": 0.05, "beta": 0.8}),
        ((2, 5), np.float32, {"lr": 0.3, "beta": 0.95})],
        lambda rng, shape: rng.standard_normal(shape) * 0.5),
    reference=_momentum,
    unpack=tuple_of("W", "v"),
    may_modify=frozenset({"W", "v"}),
    mistakes=[
        Mistake("no_one_minus_beta", "v = β v + (1 − β) dW: the (1 − β) in front of dW is "
                "missing", _momentum_variant(lambda v, dW, b: b * v + dW, lambda vn, v, dW: vn)),
        Mistake("beta_swapped", "β and 1 − β are swapped: v = β v + (1 − β) dW keeps most "
                "of the old velocity", _momentum_variant(lambda v, dW, b: (1 - b) * v + b * dW,
                                                          lambda vn, v, dW: vn)),
        Mistake("step_with_dW", "W steps along dW: with momentum it steps along the "
                "velocity, W − lr·v", _momentum_variant(lambda v, dW, b: b * v + (1 - b) * dW,
                                                         lambda vn, v, dW: dW)),
        Mistake("old_v", "W steps with the old velocity: update v first, then W − lr·v",
                _momentum_variant(lambda v, dW, b: b * v + (1 - b) * dW, lambda vn, v, dW: v)),
        Mistake("ascent", "W moves uphill: subtract the step, W − lr·v",
                _momentum_variant(lambda v, dW, b: b * v + (1 - b) * dW,
                                  lambda vn, v, dW: -vn)),
        Mistake("v_not_returned", "the v returned is the old one: return the updated "
                "velocity", lambda W, dW, v, lr, beta: Parts(v=np.asarray(v, F64))),
    ],
))


def _rmsprop(W, dW, s, lr, beta2, eps):
    opt = RMSProp(lr, beta2, eps)
    W = np.array(W, dtype=F64)
    opt.state["p"] = {"s": np.array(s, dtype=F64)}
    opt.update(W, np.asarray(dW, F64), "p")
    return W, opt.state["p"]["s"]


def _rmsprop_variant(s_rule=None, step=None):
    def variant(W, dW, s, lr, beta2, eps):
        W, dW, s = (np.asarray(a, F64) for a in (W, dW, s))
        s_new = s_rule(s, dW, beta2) if s_rule else beta2 * s + (1 - beta2) * dW**2
        return W - lr * (step(s_new, s, dW, eps) if step else dW / (np.sqrt(s_new) + eps)), s_new

    return variant


RMSPROP_SETTINGS = [((3, 2), F64, {"lr": 0.01, "beta2": 0.999, "eps": 1e-8}),
                    ((4, 1), F64, {"lr": 0.1, "beta2": 0.9, "eps": 0.1}),
                    ((2, 5), np.float32, {"lr": 0.001, "beta2": 0.99, "eps": 1e-8})]


register(Exercise(
    name="rmsprop_update",
    signature="rmsprop_update(W, dW, s, lr, beta2, eps)",
    notebooks=(6,),
    summary="One RMSProp step: s = β₂ s + (1 − β₂) dW², then W = W − lr·dW / (sqrt(s) + ε). "
    "Returns (W, s).",
    checks="three steps from a non-zero s (β₂ = 0.999, 0.9, 0.99; ε = 1e-8 and 0.1, where "
    "its place shows; one float32); compared with dlcore.RMSProp's update.",
    cases=lambda rng: _rule_cases(rng, RMSPROP_SETTINGS,
                                  lambda rng, shape: rng.random(shape) * 0.2),
    reference=_rmsprop,
    unpack=tuple_of("W", "s"),
    may_modify=frozenset({"W", "s"}),
    mistakes=[
        Mistake("no_sqrt", "W's step divides by s: divide by its square root, "
                "dW / (sqrt(s) + ε)",
                _rmsprop_variant(step=lambda sn, s, dW, eps: dW / (sn + eps))),
        Mistake("not_squared", "s averages dW, not dW²: s = β₂ s + (1 − β₂) dW²",
                _rmsprop_variant(s_rule=lambda s, dW, b: b * s + (1 - b) * dW)),
        Mistake("eps_inside", "ε is added inside the square root: the course adds it "
                "outside, dW / (sqrt(s) + ε)",
                _rmsprop_variant(step=lambda sn, s, dW, eps: dW / np.sqrt(sn + eps))),
        Mistake("old_s", "W steps with the old s: update s first, then divide by "
                "sqrt(s) + ε",
                _rmsprop_variant(step=lambda sn, s, dW, eps: dW / (np.sqrt(s) + eps))),
        Mistake("no_one_minus_beta", "s = β₂ s + (1 − β₂) dW²: the (1 − β₂) in front of dW² "
                "is missing", _rmsprop_variant(s_rule=lambda s, dW, b: b * s + dW**2)),
        Mistake("s_not_returned", "the s returned is the old one: return the updated s",
                lambda W, dW, s, lr, beta2, eps: Parts(s=np.asarray(s, F64))),
    ],
))


def _adam(W, dW, v, s, t, lr, beta1, beta2, eps):
    opt = Adam(lr, beta1, beta2, eps)
    opt.t = t
    W = np.array(W, dtype=F64)
    opt.state["p"] = {"v": np.array(v, dtype=F64), "s": np.array(s, dtype=F64)}
    opt.update(W, np.asarray(dW, F64), "p")
    return W, opt.state["p"]["v"], opt.state["p"]["s"]


def _adam_variant(t_shift=0, correct_v=True, correct_s=True, sqrt=np.sqrt, eps_inside=False,
                  return_corrected=False):
    def variant(W, dW, v, s, t, lr, beta1, beta2, eps):
        W, dW, v, s = (np.asarray(a, F64) for a in (W, dW, v, s))
        v = beta1 * v + (1 - beta1) * dW
        s = beta2 * s + (1 - beta2) * dW**2
        tt = t + t_shift
        v_hat = v / (1 - beta1**tt) if correct_v else v
        s_hat = s / (1 - beta2**tt) if correct_s else s
        denom = sqrt(s_hat + eps) if eps_inside else sqrt(s_hat) + eps
        W = W - lr * v_hat / denom
        return (W, v_hat, s_hat) if return_corrected else (W, v, s)

    return variant


def _adam_cases(rng) -> list[Case]:
    cases = []
    for shape, dtype, t, first, hyper in [
        ((3, 2), F64, 1, True, (0.01, 0.9, 0.999, 1e-8)),
        ((4, 1), F64, 3, False, (0.1, 0.8, 0.9, 1e-8)),
        ((2, 5), F64, 5, False, (0.05, 0.9, 0.99, 0.1)),
        ((3, 3), np.float32, 2, False, (0.001, 0.9, 0.999, 1e-8)),
    ]:
        W, dW = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
        if first:
            v, s = np.zeros(shape, dtype), np.zeros(shape, dtype)
        else:
            v = (rng.standard_normal(shape) * 0.5).astype(dtype)
            s = (rng.random(shape) * 0.2).astype(dtype)
        lr, beta1, beta2, eps = hyper
        cases.append(Case((W, dW, v, s, t, lr, beta1, beta2, eps),
                          f"t = {t}, {'v = s = 0' if first else 'non-zero v and s'}, "
                          f"beta1 = {beta1}, beta2 = {beta2}, eps = {eps}, "
                          f"{np.dtype(dtype).name}"))
    return cases


register(Exercise(
    name="adam_update",
    signature="adam_update(W, dW, v, s, t, lr, beta1, beta2, eps)",
    notebooks=(6,),
    summary="One Adam step (t counts from 1): v = β₁ v + (1 − β₁) dW, s = β₂ s + (1 − β₂) dW², "
    "v̂ = v / (1 − β₁ᵗ), ŝ = s / (1 − β₂ᵗ), W = W − lr·v̂ / (sqrt(ŝ) + ε). Returns "
    "(W, v, s), the running averages uncorrected.",
    checks="the first step (t = 1 from v = s = 0) and steps t = 3, 5 and 2 from non-zero "
    "averages (one with ε = 0.1, one float32); compared with dlcore.Adam's update.",
    cases=_adam_cases,
    reference=_adam,
    unpack=tuple_of("W", "v", "s"),
    may_modify=frozenset({"W", "v", "s"}),
    mistakes=[
        Mistake("no_bias_correction", "the step is not bias-corrected: divide v by "
                "(1 − β₁ᵗ) and s by (1 − β₂ᵗ) before the step",
                _adam_variant(correct_v=False, correct_s=False)),
        Mistake("t_from_zero", "the bias correction uses t − 1: t counts from 1, so the "
                "first step divides by 1 − β₁¹ (with t = 0 it divides by zero)",
                _adam_variant(t_shift=-1)),
        Mistake("t_plus_one", "the bias correction uses t + 1: t is already the step "
                "number, counted from 1 — use 1 − β₁ᵗ", _adam_variant(t_shift=1)),
        Mistake("only_v_corrected", "only v is bias-corrected: correct s too, "
                "ŝ = s / (1 − β₂ᵗ)", _adam_variant(correct_s=False)),
        Mistake("only_s_corrected", "only s is bias-corrected: correct v too, "
                "v̂ = v / (1 − β₁ᵗ)", _adam_variant(correct_v=False)),
        Mistake("returns_corrected", "the v and s returned are the corrected v̂ and ŝ: keep "
                "the running averages uncorrected and correct them only for the step",
                lambda *a: Parts(zip(("v", "s"), _adam_variant(return_corrected=True)(*a)[1:],
                                     strict=True))),
        Mistake("no_sqrt", "the step divides by ŝ: divide by its square root, "
                "v̂ / (sqrt(ŝ) + ε)", _adam_variant(sqrt=lambda x: x)),
        Mistake("eps_inside", "ε is added inside the square root: the course adds it "
                "outside, v̂ / (sqrt(ŝ) + ε)", _adam_variant(eps_inside=True)),
    ],
))
