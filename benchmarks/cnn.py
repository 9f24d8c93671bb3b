"""The ``cnn`` case of :mod:`benchmarks.training`: one epoch of the digit CNN, dlcore vs PyTorch.

The network is the ``digits-cnn`` recipe's (:func:`dlcore.recipes.digits.build_digits_cnn`:
conv 3x3 1->16, ReLU, max-pool 2, conv 3x3 16->32, ReLU, max-pool 2, dense 1568->128,
ReLU, dropout 0.25, dense 128->10, softmax), trained with Adam (lr 0.001) in mini-batches of
the recipe's size over mnist-small's 18,000 training images — the training step only, no
augmentation. PyTorch CPU, when importable, trains the same architecture from the same
initial weights on the same images (float32, plain tensor indexing, no DataLoader).

Target: dlcore's epoch ≤ 2.0x PyTorch CPU's.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from dlcore.data import load_mnist
from dlcore.layout import as_images
from dlcore.optim import Adam
from dlcore.recipes.digits import BATCH_SIZE, build_digits_cnn

try:  # optional: the comparison runs without it
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

TARGET = 2.0


def torch_cnn(model):
    """The same network in PyTorch, initialised with ``model``'s weights."""
    conv1, conv2, dense1, dense2 = (
        layer for layer in model.layers if "W" in layer.params
    )
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 7 * 7, 128), torch.nn.ReLU(), torch.nn.Dropout(0.25),
        torch.nn.Linear(128, 10),
    )
    with torch.no_grad():
        for ours, theirs in zip((conv1, conv2, dense1, dense2), (net[0], net[3], net[7], net[10]),
                                strict=True):
            theirs.weight.copy_(torch.from_numpy(ours.params["W"]))
            theirs.bias.copy_(torch.from_numpy(ours.params["b"].ravel()))
    return net


def run_cnn(args, log=lambda message: None, done=lambda: None) -> dict:
    """Alternating dlcore and PyTorch epochs; ``log`` gets a line and ``done()`` a call after
    each measured epoch (``benchmarks.training`` counts them on its progress bar)."""
    mnist = load_mnist("mnist-small")
    X, X_test = as_images(mnist.train_x), as_images(mnist.test_x)
    y = mnist.train_y
    result: dict = {
        "examples": int(X.shape[0]),
        "batch_size": BATCH_SIZE,
        "architecture": "conv3x3(1->16)-relu-maxpool2-conv3x3(16->32)-relu-maxpool2-"
        "dense(1568->128)-relu-dropout-dense(128->10)",
    }

    def dlcore_epoch(seed):
        model = build_digits_cnn(seed)
        start = time.perf_counter()
        model.fit(X, y, epochs=1, optimizer=Adam(lr=0.001), batch_size=BATCH_SIZE, rng=seed)
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(model.predict(X_test, batch_size=1000) == mnist.test_y))
        return seconds, accuracy

    def torch_epoch(seed):
        torch.manual_seed(seed)
        net = torch_cnn(build_digits_cnn(seed))
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        opt = torch.optim.Adam(net.parameters(), lr=0.001)
        loss_fn = torch.nn.CrossEntropyLoss()
        g = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        net.train()
        order = torch.randperm(Xt.shape[0], generator=g)
        for first in range(0, Xt.shape[0], BATCH_SIZE):
            idx = order[first : first + BATCH_SIZE]
            opt.zero_grad()
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()
        seconds = time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            predicted = net(torch.from_numpy(X_test)).argmax(dim=1).numpy()
        return seconds, float(np.mean(predicted == mnist.test_y))

    # Alternate the two so that both see the same background load on a shared machine.
    runs, truns = [], []
    for seed in range(args.repeats):
        runs.append(dlcore_epoch(seed))
        done()
        log(f"  dlcore epoch: {runs[-1][0]:.2f} s")
        if torch is not None:
            truns.append(torch_epoch(seed))
            done()
            log(f"  pytorch epoch: {truns[-1][0]:.2f} s")
    result["dlcore"] = {
        "seconds": [r[0] for r in runs],
        "seconds_median": statistics.median(r[0] for r in runs),
        "test_accuracy": runs[0][1],
    }
    if truns:
        result["pytorch"] = {
            "seconds": [r[0] for r in truns],
            "seconds_median": statistics.median(r[0] for r in truns),
            "test_accuracy": truns[0][1],
        }
        ratio = result["dlcore"]["seconds_median"] / result["pytorch"]["seconds_median"]
        result["ratios"] = {"dlcore_over_pytorch": ratio}
        result["targets_met"] = {f"epoch_vs_pytorch_le_{TARGET}": ratio <= TARGET}
    return result
