"""Serving benchmark: the whole stack against a single-process baseline, on loopback.

    python -m benchmarks.serving [--json] [--concurrency 1 8 32 128] [--models cnn mlp]
                                 [--requests 800] [--rounds 3] [--plot docs/serving-benchmark.png]

Three servers are started and measured in the same run, on 127.0.0.1:

- **stack, batching on** and **stack, batching off**: the real gateway and worker
  processes started by the launcher (:class:`services.stack.Stack`, default settings
  apart from ``WORKER_BATCHING``) — HTTP/JSON into the gateway, gRPC to the worker;
- **baseline**: one uvicorn process, started the same way the gateway is, serving a
  FastAPI app (:func:`baseline_app`, below) whose one endpoint does the same work
  directly: the gateway's JSON validation and image checks, the worker's decoding,
  ``dlcore.digits.preprocess_digit`` and forward pass, and the same answer (the digit,
  ten probabilities, the 28x28 input the model saw). What the stack costs on top of it is
  the microservice split: a second process, protobuf, gRPC and the micro-batcher.

The load generator is a small asyncio HTTP/1.1 client in this process (keep-alive
connections, requests written as prepared bytes, so that the client takes little of the
CPU the servers need). ``concurrency`` connections each send one request, wait for the
whole answer, and send the next (a closed loop, as browsers waiting for an answer do);
each request is ``POST /api/digits`` with the 280x280 opaque RGBA PNG the page's canvas
sends (a drawn 3), naming the model. A run ends after ``--requests`` answers or
``--max-seconds``, whichever comes first; before it, every connection sends two warm-up
requests. Each (model, concurrency) cell runs the three servers in turn, the order
rotated every round, ``--rounds`` times; the table reports each server's median round,
which evens out a busy machine. Every answer must be 200 (``errors`` counts the rest).
Beside latency and throughput, each run records the CPU time the server processes used
per answer (gateway + worker, or the baseline's one process; from /proc on Linux), which
says where the time goes independently of how busy the machine is.

Closed-loop load obeys Little's law: mean latency = concurrency / throughput. A p99
latency of 25 ms with 32 requests in flight therefore needs at least 32 / 0.025 = 1,280
answers per second. Results and the plot are written up in docs/benchmarks.md ("Serving").
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from starlette.requests import Request  # module level: FastAPI resolves the annotation here

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
MODELS = ("cnn", "mlp")
SERVERS = ("stack, batching on", "stack, batching off", "baseline")


# -- the request ---------------------------------------------------------------------------


def page_png(size: int = 280) -> bytes:
    """A 3 drawn in black on the page's white 280x280 canvas, as ``canvas.toDataURL()``
    sends it: an opaque RGBA PNG."""
    image = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    pen = ImageDraw.Draw(image)
    pen.arc((80, 50, 200, 150), -160, 90, fill=(0, 0, 0, 255), width=20)
    pen.arc((80, 130, 200, 240), -90, 160, fill=(0, 0, 0, 255), width=20)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def digit_request(model: str, png: bytes, port: int) -> bytes:
    """The whole HTTP/1.1 request for ``POST /api/digits``, ready to be written."""
    body = json.dumps(
        {"image": "data:image/png;base64," + base64.b64encode(png).decode(), "model": model}
    ).encode()
    head = (
        f"POST /api/digits HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


# -- the single-process baseline -----------------------------------------------------------


def baseline_app(models_dir: Path):
    """FastAPI app doing the stack's digit work in one endpoint, in one process.

    The same functions as the stack, called directly: the gateway's request validation
    (:func:`services.gateway.inputs.read_json`, ``DigitRequest``) and image header check
    (:func:`~services.gateway.inputs.digit_image`), the worker's decoding and
    ``preprocess_digit`` (:mod:`services.worker.preprocess`), the forward pass of the
    same verified model files, and the same ``DigitAnswer``. The work runs directly in
    the endpoint, on the event loop: no thread hand-offs, the least a single process can
    spend on a request (with FastAPI's thread pool it used about 1.3x the CPU per answer
    at 32 requests in flight — threads queueing for the one GIL).
    """
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from services.gateway import inputs
    from services.gateway.answers import digit_answer
    from services.gateway.errors import ApiError
    from services.gateway.schemas import DigitAnswer, DigitRequest
    from services.proto import inference_pb2
    from services.worker import preprocess
    from services.worker.models import DIGITS, UnknownModel, load_models, resolve_model

    models = load_models(models_dir)
    app = FastAPI(title="simpledl single-process baseline")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body("-"), status_code=exc.status)

    def classify(image: inference_pb2.Image, name: str) -> inference_pb2.DigitReply:
        try:
            model = resolve_model(models, DIGITS, name)
        except UnknownModel as e:  # a name the schema allows but nobody serves: as the gateway
            raise ApiError(400, "invalid_request", str(e)) from None
        seen = preprocess.digit_input(preprocess.digit_pixels(image))
        probabilities = model.predict_proba(model.example(seen))[:, 0]
        digit = int(np.argmax(probabilities))
        return inference_pb2.DigitReply(
            digit=digit, probabilities=probabilities.tolist(),
            input_image=seen.ravel().tolist(), model=model.name,
        )

    @app.post("/api/digits", response_model=DigitAnswer)
    async def classify_digit(request: Request):
        body = await inputs.read_json(request, DigitRequest)
        image = inputs.digit_image(body)
        return digit_answer(classify(image, body.model or ""))

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def serve_baseline(port: int, models_dir: Path) -> None:
    """Run :func:`baseline_app` with uvicorn exactly as ``python -m services.gateway`` does."""
    import uvicorn

    uvicorn.run(baseline_app(models_dir), host=HOST, port=port, log_config=None,
                access_log=False, timeout_graceful_shutdown=10, server_header=False)


class Baseline:
    """The baseline as a child process (``python -m benchmarks.serving --serve-baseline``)."""

    def __init__(self, models_dir: Path) -> None:
        from services.stack import free_port

        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/"
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as the worker's default
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serving", "--serve-baseline", str(self.port),
             "--models-dir", str(models_dir)],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )

    def __enter__(self) -> Baseline:
        from services.stack import http_status

        deadline = time.monotonic() + 60
        while http_status(self.url + "readyz") != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the baseline server did not start")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __exit__(self, *exc) -> None:
        self.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the load generator --------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads the answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection(HOST, port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Write ``request``; the answer's status and body."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


@dataclass
class Run:
    """One measured run: ``concurrency`` connections against one server."""

    server: str
    model: str
    concurrency: int
    answers: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per answer, by process

    @property
    def throughput(self) -> float:
        return self.answers / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))


async def load(port: int, request: bytes, concurrency: int, requests: int,
               max_seconds: float, pids: dict[str, int] | None = None,
               ) -> tuple[int, int, float, list[float], dict[str, float]]:
    """Closed-loop load: ``(answers, errors, seconds, latencies in ms, CPU ms per answer
    of each of the server processes ``pids``)``."""
    connections = await asyncio.gather(*(Connection.open(port) for _ in range(concurrency)))
    try:
        for _ in range(2):  # warm-up: connections, caches, the servers' first-call paths
            await asyncio.gather(*(c.send(request) for c in connections))
        latencies: list[float] = []
        errors = 0
        remaining = requests
        pids = pids or {}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        start = time.perf_counter()
        deadline = start + max_seconds

        async def client(connection: Connection) -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                sent = time.perf_counter()
                status, _ = await connection.send(request)
                latencies.append((time.perf_counter() - sent) * 1000)
                errors += status != 200

        await asyncio.gather(*(client(c) for c in connections))
        seconds = time.perf_counter() - start
        cpu_ms = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / len(latencies)
                  for name, pid in pids.items()}
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    return len(latencies), errors, seconds, latencies, cpu_ms


async def check_answer(port: int, request: bytes) -> dict:
    """One request, answered 200 with a digit (so a broken server cannot look fast)."""
    connection = await Connection.open(port)
    try:
        status, body = await connection.send(request)
    finally:
        await connection.close()
    if status != 200:
        raise RuntimeError(f"the server on port {port} answered {status}: {body[:300]!r}")
    answer = json.loads(body)
    if not (0 <= answer["digit"] <= 9 and len(answer["probabilities"]) == 10):
        raise RuntimeError(f"unexpected answer from port {port}: {answer}")
    return answer


# -- the whole benchmark -------------------------------------------------------------------


def machine() -> dict:
    import dlcore  # noqa: F401  (numpy's BLAS is what dlcore uses)

    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def summarise(runs: list[Run]) -> list[dict]:
    """Each (server, model, concurrency) cell: the median of its rounds."""
    cells: dict[tuple, list[Run]] = {}
    for run in runs:
        cells.setdefault((run.model, run.concurrency, run.server), []).append(run)
    rows = []
    for (model, concurrency, server), rounds in cells.items():
        rows.append({
            "model": model,
            "concurrency": concurrency,
            "server": server,
            "rounds": len(rounds),
            "answers": sum(r.answers for r in rounds),
            "errors": sum(r.errors for r in rounds),
            "throughput": statistics.median(r.throughput for r in rounds),
            **{f"p{q}": statistics.median(r.percentile(q) for r in rounds) for q in (50, 90, 99)},
            "cpu_ms_per_answer": {
                process: statistics.median(r.cpu_ms[process] for r in rounds)
                for process in rounds[0].cpu_ms
            },
        })
    order = {s: i for i, s in enumerate(SERVERS)}
    rows.sort(key=lambda r: (r["model"], r["concurrency"], order[r["server"]]))
    baseline = {(r["model"], r["concurrency"]): r["throughput"] for r in rows
                if r["server"] == "baseline"}
    for row in rows:
        reference = baseline.get((row["model"], row["concurrency"]))
        row["vs_baseline"] = row["throughput"] / reference if reference else None
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | concurrency | server | answers/s | × baseline | p50 ms | p90 ms | p99 ms "
             "| CPU ms/answer | errors |",
             "|---|---:|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        cpu = " + ".join(f"{ms:.2f}" for ms in r["cpu_ms_per_answer"].values())
        lines.append(
            f"| digits-{r['model']} | {r['concurrency']} | {r['server']} | "
            f"{r['throughput']:.0f} | {r['vs_baseline']:.2f} | {r['p50']:.1f} | "
            f"{r['p90']:.1f} | {r['p99']:.1f} | {cpu} | {r['errors']} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Per model: throughput, latency and CPU per answer against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(len(models), 3, figsize=(16, 4.3 * len(models)), squeeze=False)
    colours = dict(zip(SERVERS, ("C0", "C1", "C2"), strict=True))
    for (ax_tp, ax_lat, ax_cpu), model in zip(axes, models, strict=True):
        levels = sorted({r["concurrency"] for r in rows if r["model"] == model})
        for k, (server, colour) in enumerate(colours.items()):
            cells = {r["concurrency"]: r for r in rows
                     if r["model"] == model and r["server"] == server}
            if not cells:
                continue
            c = sorted(cells)
            ax_tp.plot(c, [cells[n]["throughput"] for n in c], "o-", color=colour, label=server)
            ax_lat.plot(c, [cells[n]["p50"] for n in c], "o-", color=colour,
                        label=f"{server} p50")
            ax_lat.plot(c, [cells[n]["p99"] for n in c], "s--", color=colour,
                        label=f"{server} p99")
            # CPU per answer: bars side by side; for the stack, the gateway's part hatched
            x = np.arange(len(levels)) + (k - 1) * 0.27
            bottom = np.zeros(len(levels))
            for part in cells[c[0]]["cpu_ms_per_answer"]:
                heights = [cells[n]["cpu_ms_per_answer"][part] if n in cells else 0
                           for n in levels]
                ax_cpu.bar(x, heights, 0.25, bottom=bottom, color=colour,
                           hatch="//" if part == "gateway" else None, edgecolor="white",
                           label=f"{server}: {part}")
                bottom += heights
        ax_lat.axhline(25, color="grey", linewidth=0.8, linestyle=":")
        ax_lat.annotate("25 ms", (levels[0], 25), textcoords="offset points", xytext=(2, 3),
                        color="grey", fontsize=8)
        for ax in (ax_tp, ax_lat):
            ax.set_xscale("log", base=2)
            ax.set_xticks(levels)
            ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.set_xlabel("concurrency (requests in flight)")
            ax.grid(True, alpha=0.3)
        ax_tp.set_ylim(bottom=0)
        ax_tp.set_ylabel("throughput (answers/s)")
        ax_tp.set_title(f"digits-{model}: throughput")
        ax_lat.set_yscale("log")
        ax_lat.set_ylabel("latency (ms, log scale)")
        ax_lat.set_title(f"digits-{model}: latency p50 (solid), p99 (dashed)")
        ax_cpu.set_ylim(0, 1.45 * ax_cpu.get_ylim()[1])  # room for the legend
        ax_cpu.set_xticks(np.arange(len(levels)), [str(n) for n in levels])
        ax_cpu.set_xlabel("concurrency (requests in flight)")
        ax_cpu.set_ylabel("CPU time per answer (ms)")
        ax_cpu.set_title(f"digits-{model}: CPU per answer (gateway part hatched)")
        ax_cpu.grid(True, axis="y", alpha=0.3)
        ax_tp.legend(fontsize=8)
        ax_lat.legend(fontsize=7, ncol=2)
        ax_cpu.legend(fontsize=7, ncol=2)
    fig.suptitle("POST /api/digits on loopback: full stack vs single-process baseline")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--requests", type=int, default=800, help="answers per run (at most)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="longest run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server and cell")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--plot", type=Path, default=None, help="write the plot here (PNG)")
    parser.add_argument("--replot", type=Path, metavar="JSON",
                        help="only draw --plot from the results of an earlier --json run")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.models_dir)
        return 0
    if args.replot:
        if not args.plot:
            parser.error("--replot needs --plot PNG")
        plot(json.loads(args.replot.read_text())["results"], args.plot)
        return 0
    for name in (f"digits-{m}" for m in args.models):
        if not (args.models_dir / f"{name}.json").exists():
            parser.error(f"{args.models_dir} has no {name} model (train it with: make models)")
    if min(args.concurrency) < 1 or args.requests < 1 or args.rounds < 1:
        parser.error("--concurrency, --requests and --rounds must be at least 1")

    from services.stack import Stack

    png = page_png()
    runs: list[Run] = []
    conditions = {"machine_before": machine()}
    with tempfile.TemporaryDirectory(prefix="simpledl-bench-") as tmp, \
            Stack(models_dir=args.models_dir, worker_env={"WORKER_BATCHING": "on"},
                  log_dir=Path(tmp) / "on") as on, \
            Stack(models_dir=args.models_dir, worker_env={"WORKER_BATCHING": "off"},
                  log_dir=Path(tmp) / "off") as off, \
            Baseline(args.models_dir) as baseline:
        ports = {SERVERS[0]: on.gateway_port, SERVERS[1]: off.gateway_port,
                 SERVERS[2]: baseline.port}
        processes = {  # whose CPU time is counted: gateway + worker, or the one process
            SERVERS[0]: {"gateway": on.gateway.process.pid, "worker": on.worker.process.pid},
            SERVERS[1]: {"gateway": off.gateway.process.pid, "worker": off.worker.process.pid},
            SERVERS[2]: {"baseline": baseline.process.pid},
        }
        for model in args.models:
            answers = {s: asyncio.run(check_answer(p, digit_request(model, png, p)))
                       for s, p in ports.items()}
            first = answers[SERVERS[2]]
            for server, answer in answers.items():  # all three do the same work
                if answer["digit"] != first["digit"] or answer["model"] != first["model"]:
                    raise RuntimeError(f"{server} answered {answer['digit']} "
                                       f"({answer['model']}), the baseline {first['digit']}")
            for concurrency in args.concurrency:
                for round_ in range(args.rounds):
                    order = SERVERS[round_ % 3:] + SERVERS[:round_ % 3]
                    for server in order:
                        port = ports[server]
                        n, errors, seconds, latencies, cpu_ms = asyncio.run(load(
                            port, digit_request(model, png, port), concurrency, args.requests,
                            args.max_seconds, processes[server]))
                        runs.append(Run(server, model, concurrency, n, errors, seconds,
                                        latencies, cpu_ms))
                print(f"digits-{model} c={concurrency} done", file=sys.stderr, flush=True)
    conditions["machine_after"] = machine()
    rows = summarise(runs)
    if args.plot:
        plot(rows, args.plot)
    if args.json:
        print(json.dumps({"conditions": conditions, "settings": {
            k: v for k, v in vars(args).items() if k in
            ("models", "concurrency", "requests", "max_seconds", "rounds")},
            "results": rows}, indent=2))
    else:
        before, after = conditions["machine_before"], conditions["machine_after"]
        print(f"\n{before['cpus']} CPUs, load average {before['load_average']} before, "
              f"{after['load_average']} after; median of {args.rounds} rounds of at most "
              f"{args.requests} answers ({args.max_seconds:g} s)\n")
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
