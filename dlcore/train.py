"""Command line: train a recipe and write its model files.

    python -m dlcore.train cats [--out models] [--seed N] [--no-progress]

writes ``models/cat.npz`` and ``models/cat.json`` (see :mod:`dlcore.recipes`) and prints
the metrics. A progress bar on stderr shows the training when stderr is a terminal
(``--progress`` shows it anyway, e.g. into a log file; ``--no-progress`` never).
"""

from __future__ import annotations

import argparse
import logging
import sys

from dlcore.recipes import RECIPES, run_recipe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlcore.train", description="Train a named recipe and save the model."
    )
    parser.add_argument("recipe", choices=sorted(RECIPES), help="what to train")
    parser.add_argument("--out", default="models", help="output directory (default: models)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the recipe's)")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: only when stderr is a terminal)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the cost while training")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    result, (npz_path, card_path) = run_recipe(
        args.recipe, out_dir=args.out, seed=args.seed, progress=args.progress
    )
    for key, value in result.metrics.items():
        print(f"{key}: {value:.4f}")
    print(f"training_seconds: {result.training_seconds:.2f}")
    print(f"wrote {npz_path} and {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
