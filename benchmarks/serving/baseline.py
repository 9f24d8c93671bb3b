"""The single-process baseline: the stack's digit work in one uvicorn process, no gRPC hop.

    python -m benchmarks.serving.baseline --port 8123 [--models-dir models]

One FastAPI endpoint, ``POST /api/digits``, calls the same functions as the stack, directly:
the gateway's request validation (:func:`services.gateway.inputs.read_json` with
``DigitRequest``) and image-header check (:func:`~services.gateway.inputs.digit_image`), the
worker's whole classification (:func:`services.worker.classify.classify_digit`: decoding,
``preprocess_digit``, the forward pass of the same verified model files, the class-name
mapping), and the gateway's answer (:func:`services.gateway.answers.digit_answer`). What the
stack spends on top of it is the cost of the microservice split: a second process,
protobuf, gRPC and the micro-batcher.

The work runs in the endpoint, on the event loop: no thread hand-offs, the least a single
process can spend on a request (with FastAPI's thread pool it used about 1.3x the CPU per
answer at 32 requests in flight — threads queueing for the one GIL).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from starlette.requests import Request  # module level: FastAPI resolves the annotation here

from benchmarks.serving.drawings import HOST

REPO = Path(__file__).resolve().parents[2]


def baseline_app(models_dir: Path):
    """The FastAPI app: ``POST /api/digits`` (as the gateway's) and ``GET /readyz``."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from services.gateway import inputs
    from services.gateway.answers import digit_answer
    from services.gateway.errors import ApiError
    from services.gateway.schemas import DigitAnswer, DigitRequest
    from services.proto import inference_pb2
    from services.worker.classify import classify_digit
    from services.worker.models import UnknownModel, load_models
    from services.worker.preprocess import InputError

    models = load_models(models_dir)
    app = FastAPI(title="simpledl single-process baseline")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body("-"), status_code=exc.status)

    @app.post("/api/digits", response_model=DigitAnswer)
    async def classify(request: Request):
        body = await inputs.read_json(request, DigitRequest)
        message = inference_pb2.DigitRequest(
            image=inputs.digit_image(body), model=body.model or "", saliency=body.saliency
        )
        try:
            return digit_answer(classify_digit(models, message))
        except InputError as e:
            raise ApiError(400, "invalid_input", str(e)) from None
        except UnknownModel as e:  # a name the schema allows but nobody serves: as the gateway
            raise ApiError(400, "invalid_request", str(e.args[0])) from None

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


def serve(port: int, models_dir: Path) -> None:
    """Run :func:`baseline_app` with uvicorn exactly as ``python -m services.gateway`` does."""
    import uvicorn

    from services.gateway.__main__ import SERVER

    uvicorn.run(baseline_app(models_dir), host=HOST, port=port, **SERVER)


class Baseline:
    """The baseline as a child process on a free loopback port, stopped on exit."""

    def __init__(self, models_dir: Path) -> None:
        from services.stack import free_port

        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/"
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as the worker's default
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serving.baseline", "--port", str(self.port),
             "--models-dir", str(models_dir)],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )

    @property
    def pids(self) -> dict[str, int]:
        """Whose CPU time is counted: the one process."""
        return {"baseline": self.process.pid}

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving.baseline",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    args = parser.parse_args(argv)
    serve(args.port, args.models_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
