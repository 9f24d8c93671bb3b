"""``python -m services.worker``: run the inference worker until SIGTERM or Ctrl+C.

Exit status: 0 after a clean shutdown, 2 when it refuses to start (bad settings, a model
file that fails verification, a port that cannot be bound).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from services.logs import configure_logging
from services.worker.models import ModelLoadError
from services.worker.server import Worker
from services.worker.settings import WorkerSettings

log = logging.getLogger("services.worker")


async def run(settings: WorkerSettings) -> int:
    worker = Worker(settings)
    try:
        await worker.start()
    except ModelLoadError as e:
        log.error("refusing to start: %s", e)
        return 2
    except OSError as e:
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
    return asyncio.run(run(settings))


if __name__ == "__main__":
    sys.exit(main())
