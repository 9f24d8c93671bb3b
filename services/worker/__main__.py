"""``python -m services.worker``: run the inference worker until SIGTERM or Ctrl+C.

Exit status: 0 after a clean shutdown, 2 when it refuses to start (bad settings, a model
file that fails verification, a port that cannot be bound).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from pydantic import ValidationError

from services.logs import configure_logging
from services.worker.settings import WorkerSettings

log = logging.getLogger("services.worker")
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads(threads: int) -> None:
    """Cap NumPy's BLAS threads — only possible before NumPy is first imported.

    The worker already runs several calls at once (``WORKER_INFERENCE_THREADS``), and on
    a busy machine a multi-threaded BLAS spinning on shared cores made an 8-example
    forward pass 40x slower than eight single ones (docs/serving.md). An explicitly set
    ``OPENBLAS_NUM_THREADS`` (etc.) wins.
    """
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))
    if "numpy" in sys.modules:
        log.warning("numpy was imported before the BLAS thread limit could be set")


async def run(settings: WorkerSettings) -> int:
    from services.worker.models import ModelLoadError
    from services.worker.server import Worker

    worker = Worker(settings)
    try:
        await worker.start()
    except (ModelLoadError, OSError) as e:
        log.error("refusing to start: %s", e)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: finishing calls in flight (up to %g s)",
             settings.shutdown_grace_seconds)
    await worker.stop()
    return 0


def main() -> int:
    try:
        settings = WorkerSettings()
    except ValidationError as e:
        print(f"worker: invalid WORKER_* settings:\n{e}", file=sys.stderr)
        return 2
    configure_logging("worker", settings.log_level)
    limit_blas_threads(settings.blas_threads)
    return asyncio.run(run(settings))


if __name__ == "__main__":
    sys.exit(main())
