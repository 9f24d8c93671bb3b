"""Training-speed benchmark: dlcore against a plain NumPy reference, PyTorch and the GEMM bound.

    python -m benchmarks.training [--json] [--cases cats,mlp,cnn] [--seeds 5] [--plot PNG]
                                  [--no-progress]

A progress bar per case counts its measured runs on stderr when stderr is a terminal
(``--progress`` always, ``--no-progress`` never); the bars sit outside the timed code.

Cases (a list, ``CASES``; add one by appending a :class:`Case`):

- ``cats``: the 12288-20-7-5-1 network, 2,500 full-batch gradient-descent steps at lr 0.0075
  (the ``cats`` recipe). Measured side by side in one run:
  dlcore (float32, the recipe itself, over ``--seeds`` seeds: time and accuracies);
  a *reference* implementation of the same equations written below the way the course
  writes them (a dict of ``W1, b1, ...``, float64, caches every step, computes ``dA`` for
  the input layer too); PyTorch CPU when importable; and two GEMM lower bounds —
  the run's matmul FLOPs divided by numpy's float32 matmul rate on a large square product
  (``gemm_bound_peak``), and the sum of numpy's own time for each of the run's matmuls at
  their real shapes (``gemm_bound_shapes``), both measured in this run.
- ``mlp``: 784-256-128-10 (ReLU, softmax), Adam lr 0.001, batch 128, one epoch over
  mnist-small's 18,000 training images: dlcore against PyTorch CPU (same init, same
  shuffling scheme, plain tensor indexing — no DataLoader overhead).
- ``cnn``: the ``digits-cnn`` recipe's network, Adam, one epoch over mnist-small, dlcore
  against the same architecture and initial weights in PyTorch CPU (:mod:`benchmarks.cnn`;
  target: ≤ 2.0x PyTorch).

Targets: cats ≤ 0.2x the reference's time and within 1.5x of the GEMM bound,
train ≥ 0.98 / test ≥ 0.78; MLP epoch ≤ 1.0x PyTorch. Threads: numpy's BLAS uses every
core unless ``OPENBLAS_NUM_THREADS`` says otherwise, and PyTorch is given the same count;
the machine description records it. On a shared, busy machine run with
``OPENBLAS_NUM_THREADS=1``: two BLAS threads competing with other processes for two
cores run several times slower than one.
Results and a plot are written up in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import dlcore
from dlcore.data import load_cats, load_mnist
from dlcore.layers import Dense
from dlcore.layout import flatten_images, one_hot
from dlcore.model import Sequential
from dlcore.optim import Adam
from dlcore.progress import progress_bar, write
from dlcore.recipes import CAT_LAYER_DIMS, CAT_LEARNING_RATE, CAT_STEPS, train_cats

torch = None  # imported on first use (optional: every comparison runs without it)


def load_torch():
    """PyTorch if it is installed (imported lazily: it takes seconds), else None."""
    global torch
    if torch is None:
        try:
            import torch as _torch
        except ImportError:
            return None
        torch = _torch
        if blas_threads() != torch.get_num_threads():
            torch.set_num_threads(blas_threads())  # the same thread count on both sides
    return torch


def blas_threads() -> int:
    """numpy's BLAS thread count: OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, else every core."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return os.cpu_count() or 1


@dataclass
class Case:
    name: str
    run: Callable[[argparse.Namespace], dict]  # returns JSON-able results


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    return min(timed(fn)[0] for _ in range(repeats))


def matmul_rate(n: int = 1024, repeats: int = 20, dtype=np.float32) -> float:
    """numpy's matmul rate in FLOP/s on an n x n x n product (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    return 2 * n**3 / best_time(lambda: A @ B, repeats)


def dense_matmuls(dims, m: int) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    """The matmuls of one dlcore training step: forward, dW, and dA_prev except layer 1.

    Each entry is (what, left operand shape, right operand shape) as dlcore computes it.
    """
    out = []
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=False)):
        out.append(("forward", (m, n_in), (n_in, n_out)))  # (A_prev.T @ W.T).T
        out.append(("dW", (n_out, m), (m, n_in)))  # dZ @ A_prev.T
        if i > 0:
            out.append(("dA_prev", (n_in, n_out), (n_out, m)))  # W.T @ dZ
    return out


def gemm_bounds(dims, m: int, steps: int, peak: float, repeats: int = 30) -> dict:
    """FLOPs of a dense training run and its two lower bounds (seconds)."""
    rng = np.random.default_rng(1)
    flops = shape_seconds = 0.0
    for _, (a, k), (_, b) in dense_matmuls(dims, m):
        flops += 2 * a * k * b
        # operands laid out as in dlcore (examples contiguous): left operands are row-major
        L = rng.standard_normal((a, k)).astype(np.float32)
        R = np.asfortranarray(rng.standard_normal((k, b)).astype(np.float32))
        shape_seconds += best_time(lambda L=L, R=R: L @ R, repeats)
    return {
        "flops": flops * steps,
        "gemm_bound_peak_s": flops * steps / peak,
        "gemm_bound_shapes_s": shape_seconds * steps,
    }


# -- the reference: the course's equations written plainly --------------------------------


def reference_train(X, Y, layer_dims, steps, lr, seed):
    """L-layer network, ReLU hidden / sigmoid output, float64, full-batch gradient descent."""
    rng = np.random.default_rng(seed)
    L = len(layer_dims) - 1
    parameters = {}
    for l in range(1, L + 1):  # noqa: E741 - the course's layer index
        parameters["W" + str(l)] = rng.standard_normal(
            (layer_dims[l], layer_dims[l - 1])
        ) / np.sqrt(layer_dims[l - 1])
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    m = X.shape[1]
    for _ in range(steps):
        caches = []
        A = X
        for l in range(1, L + 1):  # noqa: E741
            W, b = parameters["W" + str(l)], parameters["b" + str(l)]
            Z = W @ A + b
            caches.append((A, W, b, Z))
            A = 1 / (1 + np.exp(-Z)) if l == L else np.maximum(0, Z)
        AL = A
        cost = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m  # noqa: F841
        dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
        grads = {}
        for l in range(L, 0, -1):  # noqa: E741
            A_prev, W, b, Z = caches[l - 1]
            if l == L:
                s = 1 / (1 + np.exp(-Z))
                dZ = dA * s * (1 - s)
            else:
                dZ = np.array(dA, copy=True)
                dZ[Z <= 0] = 0
            grads["dW" + str(l)] = dZ @ A_prev.T / m
            grads["db" + str(l)] = np.sum(dZ, axis=1, keepdims=True) / m
            dA = W.T @ dZ  # for l == 1 this is the input gradient, computed as the course does
        for l in range(1, L + 1):  # noqa: E741
            parameters["W" + str(l)] -= lr * grads["dW" + str(l)]
            parameters["b" + str(l)] -= lr * grads["db" + str(l)]
    return parameters


def reference_accuracy(parameters, X, Y) -> float:
    L = len(parameters) // 2
    A = X
    for l in range(1, L + 1):  # noqa: E741
        Z = parameters["W" + str(l)] @ A + parameters["b" + str(l)]
        A = 1 / (1 + np.exp(-Z)) if l == L else np.maximum(0, Z)
    return float(np.mean((A > 0.5) == Y))


# -- PyTorch ------------------------------------------------------------------------------


def torch_mlp(dims, seed):
    g = torch.Generator().manual_seed(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=False)):
        linear = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            linear.weight.normal_(0, float(np.sqrt(1 / n_in)), generator=g)
            linear.bias.zero_()
        layers.append(linear)
        if i < len(dims) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_cats(X, Y, X_test, Y_test, seed):
    net = torch_mlp(CAT_LAYER_DIMS, seed)
    Xt, Yt = torch.from_numpy(np.ascontiguousarray(X.T)), torch.from_numpy(Y.T.astype(np.float32))
    opt = torch.optim.SGD(net.parameters(), lr=CAT_LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def train():
        for _ in range(CAT_STEPS):
            opt.zero_grad()
            loss = loss_fn(net(Xt), Yt)
            loss.backward()
            opt.step()

    seconds, _ = timed(train)
    with torch.no_grad():

        def acc(A, y):
            logits = net(torch.from_numpy(np.ascontiguousarray(A.T))).numpy().T
            return float(np.mean((logits > 0) == y))

        return seconds, acc(X, Y), acc(X_test, Y_test)


# -- cases --------------------------------------------------------------------------------


def run_cats(args) -> dict:
    cats = load_cats()
    X, X_test = flatten_images(cats.train_x), flatten_images(cats.test_x)
    Y, Y_test = cats.train_y.reshape(1, -1), cats.test_y.reshape(1, -1)
    m = X.shape[1]
    peak = matmul_rate()
    result: dict = {"steps": CAT_STEPS, "matmul_gflops_float32": peak / 1e9}
    result.update(gemm_bounds(CAT_LAYER_DIMS, m, CAT_STEPS, peak))

    # the runs below: dlcore over the seeds and with the recipe's seed, the reference, PyTorch
    bar = runs_bar(args, "cats", args.seeds + 2 + (load_torch() is not None))
    runs = []
    for seed in range(args.seeds):
        r = train_cats(seed=seed, data=cats)
        bar.update()
        runs.append({"seed": seed, "seconds": r.training_seconds, **r.metrics})
        log(
            f"  dlcore seed {seed}: {r.training_seconds:.2f} s, train "
            f"{r.metrics['train_accuracy']:.3f}, test {r.metrics['test_accuracy']:.2f}"
        )
    seconds = [r["seconds"] for r in runs]
    tests = [r["test_accuracy"] for r in runs]
    trains = [r["train_accuracy"] for r in runs]
    result["dlcore"] = {
        "runs": runs,
        "seconds_median": statistics.median(seconds),
        "seconds_min": min(seconds),
        "train_accuracy_mean": statistics.mean(trains),
        "test_accuracy_mean": statistics.mean(tests),
        "test_accuracy_std": statistics.pstdev(tests),
        "test_accuracy_min": min(tests),
        "test_accuracy_max": max(tests),
    }
    recipe = train_cats(data=cats)  # the recipe's own seed: the served model
    bar.update()
    result["dlcore_recipe_seed"] = {"seconds": recipe.training_seconds, **recipe.metrics}

    X64 = cats.train_x.reshape(m, -1).T / 255  # the course's preprocessing, float64
    X64_test = cats.test_x.reshape(cats.test_x.shape[0], -1).T / 255
    ref_seconds, params = timed(
        lambda: reference_train(X64, Y, CAT_LAYER_DIMS, CAT_STEPS, CAT_LEARNING_RATE, 0)
    )
    bar.update()
    result["reference"] = {
        "seconds": ref_seconds,
        "train_accuracy": reference_accuracy(params, X64, Y),
        "test_accuracy": reference_accuracy(params, X64_test, Y_test),
    }
    log(f"  reference: {ref_seconds:.2f} s")
    if load_torch() is not None:
        t_seconds, t_train, t_test = torch_cats(X, Y, X_test, Y_test, 0)
        bar.update()
        result["pytorch"] = {
            "seconds": t_seconds,
            "train_accuracy": t_train,
            "test_accuracy": t_test,
        }
        log(f"  pytorch: {t_seconds:.2f} s")
    bar.close()
    ours = result["dlcore"]["seconds_median"]
    result["ratios"] = {
        "dlcore_over_reference": ours / ref_seconds,
        "dlcore_over_gemm_bound_peak": ours / result["gemm_bound_peak_s"],
        "dlcore_over_gemm_bound_shapes": ours / result["gemm_bound_shapes_s"],
    }
    if "pytorch" in result:
        result["ratios"]["dlcore_over_pytorch"] = ours / result["pytorch"]["seconds"]
    result["targets_met"] = {
        "time_vs_reference_le_0.2": result["ratios"]["dlcore_over_reference"] <= 0.2,
        "time_vs_gemm_bound_peak_le_1.5": result["ratios"]["dlcore_over_gemm_bound_peak"] <= 1.5,
        "time_vs_gemm_bound_shapes_le_1.5": result["ratios"]["dlcore_over_gemm_bound_shapes"]
        <= 1.5,
        "recipe_train_ge_0.98": recipe.metrics["train_accuracy"] >= 0.98,
        "recipe_test_ge_0.78": recipe.metrics["test_accuracy"] >= 0.78,
        "mean_test_over_seeds_ge_0.78": result["dlcore"]["test_accuracy_mean"] >= 0.78,
    }
    return result


def repeated(epoch: Callable[[int], tuple[float, float]], repeats: int, bar) -> dict:
    """``epoch(seed) -> (seconds, test accuracy)`` for seeds 0..repeats-1, counted on ``bar``:
    every time, their median and the first run's accuracy."""
    runs = []
    for seed in range(repeats):
        runs.append(epoch(seed))
        bar.update()
    seconds = [r[0] for r in runs]
    return {"seconds": seconds, "seconds_median": statistics.median(seconds),
            "test_accuracy": runs[0][1]}


MLP_DIMS = (784, 256, 128, 10)
MLP_BATCH = 128


def run_mlp(args) -> dict:
    mnist = load_mnist("mnist-small")
    X, X_test = flatten_images(mnist.train_x), flatten_images(mnist.test_x)
    Y = one_hot(mnist.train_y, 10)
    result: dict = {"examples": int(X.shape[1]), "batch_size": MLP_BATCH}

    def dlcore_epoch(seed):
        g = np.random.default_rng(seed)
        dims = MLP_DIMS
        model = Sequential(
            [
                Dense(
                    dims[i],
                    dims[i + 1],
                    "relu" if i < len(dims) - 2 else "softmax",
                    init="xavier",
                    rng=g,
                )
                for i in range(len(dims) - 1)
            ],
            loss="categorical_cross_entropy",
        )
        seconds, _ = timed(
            lambda: model.fit(
                X, Y, epochs=1, optimizer=Adam(lr=0.001), batch_size=MLP_BATCH, rng=seed
            )
        )
        return seconds, float(np.mean(model.predict(X_test) == mnist.test_y))

    bar = runs_bar(args, "mlp", args.repeats * (1 + (load_torch() is not None)))
    result["dlcore"] = repeated(dlcore_epoch, args.repeats, bar)
    log(f"  dlcore epoch: {result['dlcore']['seconds_median']:.3f} s")

    if load_torch() is not None:
        Xt = torch.from_numpy(np.ascontiguousarray(X.T))
        yt = torch.from_numpy(mnist.train_y)
        Xt_test = torch.from_numpy(np.ascontiguousarray(X_test.T))

        def torch_epoch(seed):
            net = torch_mlp(MLP_DIMS, seed)
            opt = torch.optim.Adam(net.parameters(), lr=0.001)
            loss_fn = torch.nn.CrossEntropyLoss()
            g = torch.Generator().manual_seed(seed)

            def epoch():
                order = torch.randperm(Xt.shape[0], generator=g)
                for start in range(0, Xt.shape[0], MLP_BATCH):
                    idx = order[start : start + MLP_BATCH]
                    opt.zero_grad()
                    loss_fn(net(Xt[idx]), yt[idx]).backward()
                    opt.step()

            seconds, _ = timed(epoch)
            with torch.no_grad():
                predicted = net(Xt_test).argmax(dim=1).numpy()
            return seconds, float(np.mean(predicted == mnist.test_y))

        result["pytorch"] = repeated(torch_epoch, args.repeats, bar)
        log(f"  pytorch epoch: {result['pytorch']['seconds_median']:.3f} s")
        ratio = result["dlcore"]["seconds_median"] / result["pytorch"]["seconds_median"]
        result["ratios"] = {"dlcore_over_pytorch": ratio}
        result["targets_met"] = {"epoch_vs_pytorch_le_1.0": ratio <= 1.0}
    bar.close()
    return result


def run_cnn(args) -> dict:
    """The digit CNN, one epoch, dlcore vs PyTorch: see :mod:`benchmarks.cnn`."""
    from benchmarks.cnn import run_cnn as run

    bar = runs_bar(args, "cnn", args.repeats * (1 + (load_torch() is not None)))
    with bar:
        return run(args, log, done=bar.update)


CASES = [Case("cats", run_cats), Case("mlp", run_mlp), Case("cnn", run_cnn)]


# -- report -------------------------------------------------------------------------------


def machine() -> dict:
    load_torch()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
        "blas_threads": blas_threads(),
        "dlcore": dlcore.__version__,
        "pytorch": torch.__version__ if torch is not None else None,
        "pytorch_threads": torch.get_num_threads() if torch is not None else None,
    }
    return info


def log(message: str) -> None:
    write(message)  # a line on stderr, above the progress bar


def runs_bar(args, case: str, runs: int):
    """A bar counting a case's measured runs (shown as ``--progress`` says)."""
    return progress_bar(total=runs, progress=args.progress, desc=case, unit="run")


def summary(results: dict) -> str:
    lines = [f"machine: {results['machine']}"]
    for name, r in results["cases"].items():
        lines.append(f"\n[{name}]")
        for key in ("ratios", "targets_met"):
            for k, v in r.get(key, {}).items():
                lines.append(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}")
        if name == "cats":
            d = r["dlcore"]
            lines.append(
                f"  dlcore median {d['seconds_median']:.2f} s; reference "
                f"{r['reference']['seconds']:.2f} s; GEMM bound peak "
                f"{r['gemm_bound_peak_s']:.2f} s / shapes {r['gemm_bound_shapes_s']:.2f} s"
            )
            lines.append(
                f"  test accuracy over {len(d['runs'])} seeds: mean "
                f"{d['test_accuracy_mean']:.3f} ± {d['test_accuracy_std']:.3f} "
                f"[{d['test_accuracy_min']:.2f}, {d['test_accuracy_max']:.2f}]; recipe "
                f"seed: {r['dlcore_recipe_seed']}"
            )
    return "\n".join(lines)


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = results["cases"]
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 3.2), squeeze=False)
    for ax, (name, r) in zip(axes[0], cases.items(), strict=False):
        bars = {}
        if name == "cats":
            bars = {"reference (float64)": r["reference"]["seconds"]}
            if "pytorch" in r:
                bars["PyTorch CPU"] = r["pytorch"]["seconds"]
            bars["dlcore"] = r["dlcore"]["seconds_median"]
            bars["GEMM bound (shapes)"] = r["gemm_bound_shapes_s"]
            bars["GEMM bound (peak)"] = r["gemm_bound_peak_s"]
            title = f"cat network, {r['steps']} full-batch steps"
        elif name == "cnn":
            if "pytorch" in r:
                bars["PyTorch CPU"] = r["pytorch"]["seconds_median"]
            bars["dlcore"] = r["dlcore"]["seconds_median"]
            title = f"digit CNN, Adam, batch {r['batch_size']}, one epoch"
        elif name == "mlp":
            if "pytorch" in r:
                bars["PyTorch CPU"] = r["pytorch"]["seconds_median"]
            bars["dlcore"] = r["dlcore"]["seconds_median"]
            title = "MLP 784-256-128-10, Adam, one epoch"
        labels, values = list(bars), list(bars.values())
        ax.barh(labels, values, color=["#999" if k != "dlcore" else "#c44" for k in labels])
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}", va="center")
        ax.set_xlabel("wall-clock time (s), lower is better")
        ax.set_title(title)
        ax.set_xlim(0, max(values) * 1.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--cases",
        default=",".join(c.name for c in CASES),
        help="comma-separated cases to run (default: all)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="dlcore seeds for the cat case")
    parser.add_argument("--repeats", type=int, default=3, help="repeats for the MLP epoch")
    parser.add_argument("--plot", metavar="PNG", help="also draw the figures into PNG")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on stderr (default: only when stderr is a terminal)",
    )
    args = parser.parse_args(argv)
    wanted = args.cases.split(",")
    unknown = set(wanted) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {[c.name for c in CASES]}")
    results = {"machine": machine(), "cases": {}}
    load = results["machine"]["load_average_at_start"]
    if load and load[0] > 0.5 * (os.cpu_count() or 1):
        log(
            f"warning: load average {load[0]:.1f} on {os.cpu_count()} cores — other processes "
            "compete for the CPU and BLAS threads; timings will be unreliable"
        )
    for case in CASES:
        if case.name in wanted:
            log(f"{case.name} ...")
            results["cases"][case.name] = case.run(args)
    if hasattr(os, "getloadavg"):
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
    print(json.dumps(results, indent=2) if args.json else summary(results))
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
