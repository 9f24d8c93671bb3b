"""Where each process of the stack spends its CPU per answer, under the benchmark's load.

    python -m benchmarks.serving.profile [--model cnn] [--concurrency 32] [--requests 3000]
                                         [--out profile-dir]

Starts the stack (default settings) on loopback, sends the benchmark's requests
(:mod:`benchmarks.serving.drawings`, closed loop) and meanwhile samples the gateway and the
worker with py-spy (``record --nonblocking``, stacks written as "collapsed" text to
``--out``: open them with speedscope or flamegraph.pl). It prints, per process:

- the CPU time per answer of each thread (``/proc/<pid>/task``): the event loop, the
  inference thread pool, gRPC's own C threads, which py-spy cannot see;
- where that time goes — decoding the PNG, preprocessing, the forward pass, validation,
  JSON, protobuf and gRPC, HTTP, the event loop, thread hand-offs, ... — as CPU ms per
  answer and share.

How the table is made: py-spy counts a thread's sample wherever the thread is runnable
(also while it waits for a core on a busy machine), so each thread's *CPU time* from /proc
is divided among the categories by their share of that thread's samples (the main thread
and the service's Python threads separately); gRPC's C threads keep a row of their own.
A sample belongs to the innermost frame of our own code when that frame does a piece of
the work (the worker's decoding in ``services/imaging.py`` and ``preprocess.py``,
``dlcore/digits.py``, the model, the gateway's ``inputs`` and ``answers``); below our
plumbing (middleware, routes, the servicer's wrapper) or with none of ours on the stack, to
the innermost library frame a rule knows (``pydantic``, ``json``, ``grpc``,
``h11``/``uvicorn``, ``starlette``/``fastapi``, ``asyncio``, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.serving import drawings
from benchmarks.serving.load import load, stat_cpu_seconds

REPO = Path(__file__).resolve().parents[2]

# Frames of our own code that do a piece of the work: the innermost frame of ours decides,
# and the library code below it counts for it.
WORK = [
    ("request: base64, PNG header", r"probe \(services/imaging\.py"),
    ("PNG decoding", r"decode \(services/imaging\.py|plain_png \(services/imaging\.py|"
     r"_decode_plain_png \(|_stored_png \("),
    ("alpha check, grey conversion", r"digit_pixels \(services/worker/preprocess\.py|"
     r"_grey_if_opaque \("),
    ("preprocess_digit", r"dlcore/digits\.py|digit_input \("),
    ("forward pass", r"dlcore/|predict_proba \("),
    ("micro-batcher", r"services/worker/batching\.py"),
    ("reply: lists, protobuf", r"_classify_digit \(services/worker/server\.py|"
     r"services/worker/classify\.py"),
    ("request: read body, validate JSON", r"read_json \(|parse_json \("),
    ("request: base64, PNG header", r"decode_base64 \(|checked_image \(|digit_image \("),
    ("answer: rounding, DigitAnswer", r"services/gateway/answers\.py"),
]
# Below plumbing of ours (or with none of ours above), the innermost frame a rule knows.
LIBRARY = [
    ("validation, serialisation (pydantic)", r"pydantic|fastapi/encoders\.py"),
    ("JSON", r"\(json/|orjson"),
    ("protobuf", r"google/protobuf|_pb2\.py"),
    ("gRPC (Python side)", r"\(grpc/|services/gateway/worker_client\.py"),
    ("logging", r"\(logging/"),
    ("metrics (prometheus_client)", r"prometheus_client|services/(gateway|worker)/metrics\.py"),
    ("HTTP (uvicorn, h11)", r"\(h11/|\(uvicorn/|httptools"),
    ("thread-pool hand-offs", r"concurrent/futures|\(threading\.py|run_in_executor|"
     r"call_soon_threadsafe|_write_to_self|_read_from_self"),
    ("routing, middleware (FastAPI, Starlette, ours)", r"\(starlette/|\(fastapi/|"
     r"services/gateway/(middleware|routes|app)\.py"),
    ("socket reads and writes", r"_SelectorSocketTransport\.(write|_read_ready)|sock_(recv|send)"),
    ("event loop (asyncio)", r"\(asyncio/|\(selectors\.py|uvloop"),
    ("gRPC servicer wrapper", r"services/worker/server\.py"),
    ("NumPy", r"\(numpy/"),
]
OURS = re.compile(r"\((services|dlcore|benchmarks)/")
# Frames of ours that only pass the work on (time below them is the libraries' plumbing).
PLUMBING = re.compile(r"services/gateway/(middleware|routes|app|worker_client|metrics|__main__)"
                      r"\.py|services/worker/(server|metrics|__main__)\.py|services/logs\.py")


def categorise(stack: list[str]) -> str:
    """The category of one sampled stack (frames root first, as py-spy writes them)."""
    for frame in reversed(stack):
        if OURS.search(frame):
            for name, pattern in WORK:
                if re.search(pattern, frame):
                    return name
            if PLUMBING.search(frame):
                break  # our plumbing: the library code below it decides
    for frame in reversed(stack):
        for name, pattern in LIBRARY:
            if re.search(pattern, frame):
                return name
    return "other"


MAIN, POOL, GRPC = "main thread (event loop)", "Python threads (thread pool, ...)", "gRPC C threads"


def read_collapsed(path: Path) -> dict[str, collections.Counter]:
    """``{thread role: {category: samples}}`` from py-spy's collapsed-stack output; the
    roles are the main thread (its stacks start at the module run) and the service's own
    Python threads (they start at ``Thread._bootstrap``: the thread pool, ...)."""
    counts: dict[str, collections.Counter] = {MAIN: collections.Counter(),
                                              POOL: collections.Counter()}
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            frames = stack.split(";")
            role = POOL if frames[0].startswith("Thread._bootstrap") else MAIN
            counts[role][categorise(frames)] += int(n)
    return counts


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """``{tid: (name, CPU seconds)}`` of every thread of ``pid`` (Linux /proc)."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu = stat_cpu_seconds(task / "stat")
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        threads[int(task.name)] = (name, cpu)
    return threads


def thread_roles(pid: int, before: dict, after: dict, answers: int) -> dict[str, float]:
    """CPU ms per answer by thread role: the main thread, the service's Python threads,
    gRPC's C threads (py-spy cannot sample them), anything else by its name."""
    roles: collections.Counter = collections.Counter()
    for tid, (name, seconds) in after.items():
        used = seconds - before.get(tid, (name, 0.0))[1]
        role = (MAIN if tid == pid else GRPC if name.startswith(("event_engine", "grpc"))
                else POOL if name == "python" else f"other threads ({name})")
        roles[role] += used * 1000 / answers
    return dict(roles)


def attribute(samples: dict[str, collections.Counter], threads: dict[str, float],
              ) -> dict[str, dict[str, float]]:
    """``{category: {"share", "ms_per_answer"}}``: each role's CPU per answer divided among
    the categories by their share of that role's samples; threads py-spy cannot see keep
    a row of their own."""
    ms: collections.Counter = collections.Counter()
    for role, counts in samples.items():
        total = sum(counts.values())
        for category, n in counts.items():
            ms[category] += threads.get(role, 0.0) * n / total
    for role, role_ms in threads.items():
        if role not in samples or not sum(samples[role].values()):
            ms[f"{role} (not sampled)"] += role_ms
    whole = sum(ms.values()) or 1.0
    return {category: {"share": value / whole, "ms_per_answer": value}
            for category, value in ms.most_common()}


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy "
                         "(pinned in the project's 'bench' extra)")
    return found


def profile(model: str, concurrency: int, requests: int, rate: int, out: Path,
            models_dir: Path) -> dict:
    """Run the load with both services sampled; the per-process results (also saved as
    ``out/profile.json`` next to the collapsed stacks)."""
    from services.stack import Stack

    spy = py_spy()
    out.mkdir(parents=True, exist_ok=True)
    pngs = drawings.page_drawings()
    with Stack(models_dir=models_dir, log_dir=out / "logs") as stack:
        pids = {"gateway": stack.gateway.process.pid, "worker": stack.worker.process.pid}
        port = stack.gateway_port
        sent = [drawings.digit_request(model, png, port) for png in pngs]
        asyncio.run(load(port, sent, concurrency, min(requests, 500), 60))  # warm up
        before = {name: thread_cpu(pid) for name, pid in pids.items()}
        spies = {name: subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking",
             "--format", "raw", "--output", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in pids.items()}
        time.sleep(1.0)  # py-spy attaches
        answers, errors, seconds, _, cpu_ms = asyncio.run(
            load(port, sent, concurrency, requests, 600, pids))
        for process in spies.values():
            process.send_signal(signal.SIGINT)  # py-spy writes its output and exits
        for process in spies.values():
            process.wait(60)
        after = {name: thread_cpu(pid) for name, pid in pids.items()}
    result = {"model": model, "concurrency": concurrency, "answers": answers, "errors": errors,
              "throughput": answers / seconds, "cpu_ms_per_answer": cpu_ms,
              "load_average": [round(x, 2) for x in os.getloadavg()], "processes": {}}
    for name, pid in pids.items():
        samples = read_collapsed(out / f"{name}.txt")
        threads = thread_roles(pid, before[name], after[name], answers)
        result["processes"][name] = {
            "threads_ms_per_answer": threads,
            "samples": {role: sum(counts.values()) for role, counts in samples.items()},
            "categories": attribute(samples, threads),
        }
    (out / "profile.json").write_text(json.dumps(result, indent=2))
    return result


def markdown(result: dict) -> str:
    """One table per process: threads, then categories of the Python samples."""
    lines = [f"digits-{result['model']}, {result['concurrency']} in flight: "
             f"{result['answers']} answers ({result['errors']} errors), "
             f"{result['throughput']:.0f}/s, load average {result['load_average']}"]
    for name, process in result["processes"].items():
        total = result["cpu_ms_per_answer"][name]
        lines += ["", f"**{name}: {total:.2f} ms CPU per answer**", "",
                  "| where | share | ≈ ms per answer |", "|---|---:|---:|"]
        for category, value in process["categories"].items():
            lines.append(f"| {category} | {100 * value['share']:.0f} % | "
                         f"{value['ms_per_answer']:.2f} |")
        threads = ", ".join(f"{role} {ms:.2f}"
                            for role, ms in process["threads_ms_per_answer"].items())
        lines += ["", f"by thread (ms per answer): {threads}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving.profile",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000, help="answers while sampling")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=Path("serving-profile"),
                        help="directory for the collapsed stacks and profile.json")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.requests < 1:
        parser.error("--concurrency and --requests must be at least 1")
    result = profile(args.model, args.concurrency, args.requests, args.rate, args.out,
                     args.models_dir)
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
