"""The whole serving benchmark: start the servers, check their answers, load them in rounds.

    python -m benchmarks.serving [--json] [--concurrency 1 8 32 128] [--models cnn mlp]
                                 [--requests 800] [--rounds 3] [--plot docs/serving-benchmark.png]
                                 [--servers stack stack-unbatched baseline]
                                 [--compare-with REV [REV ...]]

Each (model, concurrency) cell runs every server in turn, the order rotated every round,
``--rounds`` times; the table reports each server's median round, which evens out a busy
machine. Before the rounds, every server answers every drawing, and the answers must agree
(the same digits and model; probabilities within 1e-6, the rounding of the gateway's
6-decimal answers) — so a broken server cannot look fast, and a change that alters answers
is caught in the same run that measures it.

``--compare-with`` serves the stacks of earlier commits beside today's, the first one the
reference of the "× earlier" column; several (``--compare-with 122a807 e5a9f06 f6b90f5``)
measure a series of changes one by one, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from benchmarks.serving import drawings
from benchmarks.serving.baseline import Baseline
from benchmarks.serving.load import Run, answer, load
from benchmarks.serving.report import BASELINE, markdown, plot, summarise

REPO = Path(__file__).resolve().parents[2]
MODELS = ("cnn", "mlp")
#: ``--servers`` choices and the names their results carry
SERVERS = {"stack": "stack, batching on", "stack-unbatched": "stack, batching off",
           "baseline": BASELINE}
#: answers may differ by the gateway's rounding to 6 decimals (and float noise below it)
SAME_PROBABILITIES = 1e-6 + 1e-9


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def check_same_answers(answers: dict[str, list[dict]]) -> None:
    """Every server's answers to the drawings agree with the first server's."""
    (first, reference), *others = answers.items()
    for server, replies in others:
        for i, (mine, theirs) in enumerate(zip(replies, reference, strict=True)):
            same = (mine["digit"] == theirs["digit"] and mine["model"] == theirs["model"]
                    and np.allclose(mine["probabilities"], theirs["probabilities"],
                                    rtol=0, atol=SAME_PROBABILITIES))
            if not same:
                raise RuntimeError(
                    f"drawing {i}: {server} answered {mine['digit']} ({mine['model']}, "
                    f"{mine['probabilities']}), {first} {theirs['digit']} ({theirs['model']}, "
                    f"{theirs['probabilities']})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving",
                                     description="Serving benchmark: the whole stack against a "
                                     "single-process baseline, on loopback.")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--requests", type=int, default=800, help="answers per run (at most)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="longest run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server and cell")
    parser.add_argument("--drawings", type=int, default=drawings.DRAWINGS,
                        help="how many different drawings the requests cycle through")
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=SERVERS,
                        help="which of today's servers to measure (default: all three)")
    parser.add_argument("--compare-with", metavar="REV", nargs="+", default=[],
                        help="also serve the stack of commit REV (a hash, tag, HEAD~1, ...), "
                        "unpacked into a temporary directory, with its own default settings; "
                        "several: each of them (the first is the × earlier reference)")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--plot", type=Path, default=None, help="write the plot here (PNG)")
    parser.add_argument("--replot", type=Path, metavar="JSON",
                        help="only draw --plot from the results of an earlier --json run")
    args = parser.parse_args(argv)
    if args.replot:
        if not args.plot:
            parser.error("--replot needs --plot PNG")
        return args
    for name in (f"digits-{m}" for m in args.models):
        if not (args.models_dir / f"{name}.json").exists():
            parser.error(f"{args.models_dir} has no {name} model (train it with: make models)")
    if min(args.concurrency) < 1 or args.requests < 1 or args.rounds < 1 or args.drawings < 1:
        parser.error("--concurrency, --requests, --rounds and --drawings must be at least 1")
    return args


def start_servers(args: argparse.Namespace, stack: ExitStack, tmp: Path,
                  ) -> tuple[dict[str, int], dict[str, dict[str, int]], dict]:
    """Start the chosen servers; ``(ports, pids, notes)`` by server name."""
    from services.stack import Stack

    ports: dict[str, int] = {}
    pids: dict[str, dict[str, int]] = {}
    notes: dict = {}
    for key in args.servers:
        name = SERVERS[key]
        if key == "baseline":
            server = stack.enter_context(Baseline(args.models_dir))
            ports[name], pids[name] = server.port, server.pids
            continue
        batching = "on" if key == "stack" else "off"
        server = stack.enter_context(Stack(models_dir=args.models_dir,
                                           worker_env={"WORKER_BATCHING": batching},
                                           log_dir=tmp / key))
        ports[name] = server.gateway_port
        pids[name] = {"gateway": server.gateway.process.pid, "worker": server.worker.process.pid}
    from benchmarks.serving.revision import RevisionError, RevisionStack, resolve

    commits = [resolve(rev)[:7] for rev in args.compare_with]
    if len(set(commits)) < len(commits):
        raise RevisionError(f"--compare-with names a commit twice: {' '.join(commits)}")
    for i, rev in enumerate(args.compare_with):
        earlier = stack.enter_context(RevisionStack(rev, args.models_dir,
                                                    log_dir=tmp / f"earlier-{i}"))
        ports[earlier.label], pids[earlier.label] = earlier.gateway_port, earlier.pids
        served = {"rev": rev, "commit": earlier.commit, "server": earlier.label}
        notes.setdefault("compare_with", served)  # the reference of "× earlier"
        notes.setdefault("revisions", []).append(served)
    return ports, pids, notes


def measure(args: argparse.Namespace) -> dict:
    """Run the benchmark; ``{"conditions", "settings", "results"}`` (the ``--json`` output)."""
    pngs = drawings.page_drawings(args.drawings)
    runs: list[Run] = []
    conditions = {"machine_before": machine(), "drawings": len(pngs),
                  "load_generator": "benchmarks.serving.load (asyncio, this process)"}
    with tempfile.TemporaryDirectory(prefix="simpledl-bench-") as tmp, ExitStack() as stack:
        ports, pids, notes = start_servers(args, stack, Path(tmp))
        conditions.update(notes)
        servers = list(ports)
        for model in args.models:
            requests = {s: [drawings.digit_request(model, png, p) for png in pngs]
                        for s, p in ports.items()}
            check_same_answers({s: [asyncio.run(answer(ports[s], r)) for r in requests[s]]
                                for s in servers})
            for concurrency in args.concurrency:
                for round_ in range(args.rounds):
                    shift = round_ % len(servers)
                    for server in servers[shift:] + servers[:shift]:
                        n, errors, seconds, latencies, cpu_ms = asyncio.run(load(
                            ports[server], requests[server], concurrency, args.requests,
                            args.max_seconds, pids[server]))
                        runs.append(Run(server, model, concurrency, n, errors, seconds,
                                        latencies, cpu_ms))
                print(f"digits-{model} c={concurrency} done", file=sys.stderr, flush=True)
    conditions["machine_after"] = machine()
    earlier = conditions.get("compare_with", {}).get("server")
    settings = {k: v for k, v in vars(args).items()
                if k in ("models", "concurrency", "requests", "max_seconds", "rounds",
                         "drawings", "servers", "compare_with")}
    return {"conditions": conditions, "settings": settings,
            "results": summarise(runs, earlier=earlier)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot:
        plot(json.loads(args.replot.read_text())["results"], args.plot)
        return 0
    measured = measure(args)
    rows = measured["results"]
    if args.plot:
        plot(rows, args.plot)
    if args.json:
        print(json.dumps(measured, indent=2))
    else:
        before = measured["conditions"]["machine_before"]
        after = measured["conditions"]["machine_after"]
        print(f"\n{before['cpus']} CPUs, load average {before['load_average']} before, "
              f"{after['load_average']} after; median of {args.rounds} rounds of at most "
              f"{args.requests} answers ({args.max_seconds:g} s), {args.drawings} "
              "drawings\n")
        print(markdown(rows))
    return 0
