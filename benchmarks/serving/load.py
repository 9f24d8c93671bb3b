"""The load generator: closed-loop HTTP/1.1 load from this process, and CPU time per answer.

``concurrency`` keep-alive connections each send one request, wait for the whole answer and
send the next — a closed loop, as browsers waiting for an answer do, so exactly
``concurrency`` requests are in flight all the time. Requests are prepared bytes (see
:mod:`benchmarks.serving.drawings`); each connection cycles through all of them, starting
at its own offset. Before the measured part, every connection sends two warm-up requests.
A run ends after ``requests`` answers (every request sent is answered and counted, none is
left half-served) or ``max_seconds``.

Beside latency and throughput, a run records the CPU time each server process used per
answer (``/proc/<pid>/stat`` before and after, Linux) and the load generator's own (this
process's CPU time, :func:`time.process_time`): on a 2-core machine the generator competes
with the servers, so its share is reported next to theirs.

Why not wrk, hey, locust, oha, k6 or vegeta (docs/benchmarks.md, "Serving", says more):
wrk 4.1 (Debian) corrects its latencies for coordinated omission before any script can read
them — wrong for a closed loop — and cannot end a run after a number of answers; hey sends
one body only; locust rounds response times in its statistics and spends more CPU per
request in Python than this client; oha, k6 and vegeta are not installable here.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.serving.drawings import HOST

#: the key of the load generator's CPU time in ``Run.cpu_ms``
LOAD_GENERATOR = "load generator"


def stat_cpu_seconds(path: Path | str) -> float:
    """User + system CPU time in a ``/proc`` stat file (``/proc/<pid>/stat``, or a thread's
    ``/proc/<pid>/task/<tid>/stat``); raises ``OSError`` if it cannot be read."""
    # The command name in parentheses may hold spaces or ")": fields start after the last ")".
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        return stat_cpu_seconds(f"/proc/{pid}/stat")
    except OSError:
        return 0.0


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


async def load(
    port: int,
    requests: list[bytes],
    concurrency: int,
    answers: int,
    max_seconds: float,
    pids: dict[str, int] | None = None,
) -> tuple[int, int, float, list[float], dict[str, float]]:
    """Closed-loop load on ``127.0.0.1:port``; ``(answers, errors, seconds, latencies in ms,
    CPU ms per answer)``.

    Args:
        requests: whole HTTP requests (bytes) to cycle through.
        concurrency: connections, each with one request in flight.
        answers: answers to wait for (at most; ``max_seconds`` may end the run first).
        pids: the server processes whose CPU time is counted, by name; the result's CPU
            dict has these names and :data:`LOAD_GENERATOR`.
    """
    if not requests:
        raise ValueError("load needs at least one request to send")
    connections = await asyncio.gather(*(Connection.open(port) for _ in range(concurrency)))
    try:
        for k in range(2):  # warm-up: connections, caches, the servers' first-call paths
            await asyncio.gather(*(c.send(requests[(i + k) % len(requests)])
                                   for i, c in enumerate(connections)))
        latencies: list[float] = []
        errors = 0
        remaining = answers
        pids = pids or {}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        own_before = time.process_time()
        start = time.perf_counter()
        deadline = start + max_seconds

        async def client(offset: int, connection: Connection) -> None:
            nonlocal remaining, errors
            sent = offset
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                request = requests[sent % len(requests)]
                sent += 1
                began = time.perf_counter()
                status, _ = await connection.send(request)
                latencies.append((time.perf_counter() - began) * 1000)
                errors += status != 200

        await asyncio.gather(*(client(i, c) for i, c in enumerate(connections)))
        seconds = time.perf_counter() - start
        n = max(len(latencies), 1)
        cpu_ms = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / n
                  for name, pid in pids.items()}
        cpu_ms[LOAD_GENERATOR] = (time.process_time() - own_before) * 1000 / n
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    return len(latencies), errors, seconds, latencies, cpu_ms


async def answer(port: int, request: bytes) -> dict:
    """One request's answer, which must be a 200 with a digit (so that a broken server
    cannot look fast)."""
    connection = await Connection.open(port)
    try:
        status, body = await connection.send(request)
    finally:
        await connection.close()
    if status != 200:
        raise RuntimeError(f"the server on port {port} answered {status}: {body[:300]!r}")
    reply = json.loads(body)
    if not (0 <= reply["digit"] <= 9 and len(reply["probabilities"]) == 10):
        raise RuntimeError(f"unexpected answer from port {port}: {reply}")
    return reply
