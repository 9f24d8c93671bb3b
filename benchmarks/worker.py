"""Does micro-batching help? Measure the worker with batching on and off.

    python -m benchmarks.worker                      # all digit models, c = 1 8 32 128
    python -m benchmarks.worker --concurrency 1 32 --requests 600

Starts two real worker processes (``WORKER_BATCHING`` off and on) and sends them
``ClassifyDigit`` calls over gRPC from this process, ``concurrency`` at a time, in
alternating rounds (the median round is reported, which evens out a busy machine): each call
carries a 280x280 PNG drawing (what the page sends), so the numbers include decoding and
preprocessing as well as the forward pass. Prints a Markdown table of throughput and
latency percentiles. Without ``--models-dir`` it uses ``models/`` when the digit models are
there, otherwise untrained models of the same architectures (the timing is the same).
The results and the default chosen from them are in ``docs/serving.md``. A progress bar
counts the rounds on stderr when stderr is a terminal (``--progress`` always,
``--no-progress`` never).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image, ImageDraw

from dlcore.progress import progress_bar
from services.proto import inference_pb2, inference_pb2_grpc
from services.stack import REPO, free_port

DIGIT_MODELS = ("digits-mlp", "digits-cnn")


def drawing_png(size: int = 280) -> bytes:
    """A 3 drawn with a round pen on a white canvas, as the page sends it."""
    image = Image.new("L", (size, size), 255)
    pen = ImageDraw.Draw(image)
    pen.arc((80, 50, 200, 150), -160, 90, fill=0, width=20)
    pen.arc((80, 130, 200, 240), -90, 160, fill=0, width=20)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def untrained_models(directory: Path) -> Path:
    """The served digit architectures with their initial weights, saved as model files."""
    from dlcore import save_model
    from dlcore.recipes.digits import CNN_INPUT, MLP_INPUT, build_digits_cnn, build_digits_mlp

    digits = [str(d) for d in range(10)]
    save_model(build_digits_mlp(), directory / "digits-mlp", input=MLP_INPUT, classes=digits,
               task="digits")
    save_model(build_digits_cnn(), directory / "digits-cnn", input=CNN_INPUT, classes=digits,
               task="digits")
    return directory


def start_worker(models_dir: Path, batching: bool, extra: dict[str, str]) -> tuple:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "WORKER_PORT": str(port),
           "WORKER_METRICS_PORT": "0", "WORKER_MODELS_DIR": str(models_dir),
           "WORKER_BATCHING": "on" if batching else "off", "WORKER_LOG_LEVEL": "WARNING",
           **extra}
    process = subprocess.Popen([sys.executable, "-m", "services.worker"], cwd=REPO, env=env)
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited with status {process.returncode}")
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the worker did not become ready")
            time.sleep(0.1)
    return process, target


async def load(target: str, model: str, concurrency: int, requests: int, png: bytes) -> dict:
    request = inference_pb2.DigitRequest(image=inference_pb2.Image(encoded=png), model=model)
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = inference_pb2_grpc.InferenceStub(channel)
        for _ in range(min(20, requests)):  # warm the connection and the caches
            await stub.ClassifyDigit(request, timeout=30)
        remaining = requests

        async def client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                await stub.ClassifyDigit(request, timeout=30)
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"throughput": len(latencies) / elapsed, "p50": np.percentile(ms, 50),
            "p90": np.percentile(ms, 90), "p99": np.percentile(ms, 99)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--models", nargs="+", default=list(DIGIT_MODELS))
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--requests", type=int, default=300, help="calls per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per setting (median)")
    parser.add_argument("--max-batch-size", default="32")
    parser.add_argument("--max-batch-delay-ms", default="2")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="a progress bar on stderr (default: only on a terminal)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        models_dir = args.models_dir
        if models_dir is None:
            repo = REPO / "models"
            have = all((repo / f"{m}.json").exists() for m in args.models)
            models_dir = repo if have else untrained_models(Path(tmp))
        extra = {"WORKER_MAX_BATCH_SIZE": args.max_batch_size,
                 "WORKER_MAX_BATCH_DELAY_MS": args.max_batch_delay_ms}
        png = drawing_png()
        samples: dict[tuple, list[dict]] = {}
        workers = {batching: start_worker(models_dir, batching, extra)
                   for batching in (False, True)}
        rounds = len(args.models) * len(args.concurrency) * args.rounds * len(workers)
        bar = progress_bar(total=rounds, progress=args.progress, desc="rounds", unit="round")
        try:
            # Rounds alternate off/on so that a busy neighbour on the machine slows both
            # settings alike; each row reports the median round.
            for model in args.models:
                for c in args.concurrency:
                    bar.set_postfix(model=model, concurrency=c)
                    for _ in range(args.rounds):
                        for batching, (_, target) in workers.items():
                            r = asyncio.run(load(target, model, c, args.requests, png))
                            samples.setdefault((model, c, batching), []).append(r)
                            bar.update()
        finally:
            bar.close()
            for process, _ in workers.values():
                process.terminate()
                process.wait(30)
    results = {key: {stat: float(np.median([r[stat] for r in rounds])) for stat in rounds[0]}
               for key, rounds in samples.items()}

    print(f"\nmodels: {models_dir}; median of {args.rounds} rounds of {args.requests} calls; "
          f"max batch "
          f"{args.max_batch_size}, max delay {args.max_batch_delay_ms} ms; "
          f"{os.cpu_count()} CPUs\n")
    print("| model | concurrency | batching | calls/s | p50 ms | p90 ms | p99 ms |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for (model, c, batching), r in sorted(results.items()):
        print(f"| {model} | {c} | {'on' if batching else 'off'} | {r['throughput']:.0f} | "
              f"{r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
