"""Command line for the data layer: ``python -m dlcore.data {fetch,verify,info}``.

Expected failures (unknown data set, offline with no mirror, checksum mismatch, malformed
file) print one clear message on stderr and exit with status 1, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from dlcore.data.errors import DataError
from dlcore.data.store import Store, default_store


def _fetch(store: Store, names: list[str]) -> int:
    for name in names:
        store.spec(name)  # unknown names fail before anything is downloaded
    for name in names:
        folder = store.fetch(name)
        print(f"{name}: OK ({folder})")
    return 0


def _verify(store: Store, names: list[str]) -> int:
    explicit = bool(names)
    failed = 0
    for name in names or sorted(store.manifest):
        for f in store.status(name):
            if f.status == "ok":
                print(f"OK       {f.dataset}/{f.name}")
            elif f.status == "missing":
                hint = f"not fetched: python -m dlcore.data fetch {name}"
                print(f"MISSING  {f.dataset}/{f.name}  ({hint})")
                failed += explicit
            else:
                print(f"CORRUPT  {f.dataset}/{f.name}  {f.path}: {f.detail}", file=sys.stderr)
                failed += 1
    if failed:
        print(
            f"verify: {failed} file(s) failed; `python -m dlcore.data fetch NAME` repairs them",
            file=sys.stderr,
        )
        return 1
    return 0


def _info(store: Store, names: list[str]) -> int:
    print(f"data directory: {store.data_dir}")
    print(f"mirror:         {store.mirror or '(none; files come from the URLs in the manifest)'}")
    for name in names or sorted(store.manifest):
        spec = store.spec(name)
        print(f"\n{name}: {spec.description}")
        for f in store.status(name):
            size = f"{f.size:>10,} B" if f.size is not None else " " * 12
            print(f"  {f.status:<8} {size}  {f.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlcore.data", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command, help_text in [
        ("fetch", "download (or copy from the mirror) and verify data sets"),
        ("verify", "check cached files against their sha256 (default: all data sets)"),
        ("info", "show what is cached, where, sizes and status"),
    ]:
        p = sub.add_parser(command, help=help_text)
        p.add_argument("names", nargs="+" if command == "fetch" else "*", metavar="NAME")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (shown only on a terminal)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    store = default_store(progress=not args.quiet)  # tqdm shows bars only on a terminal
    command = {"fetch": _fetch, "verify": _verify, "info": _info}[args.command]
    try:
        return command(store, args.names)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
