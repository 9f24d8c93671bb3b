"""How long does a worker pod the HPA adds wait for traffic? Scale-out, simulated.

    sudo .venv/bin/python -m benchmarks.scale_out                    # k8s/base's settings
    sudo .venv/bin/python -m benchmarks.scale_out --trials 8 \
        --worker-env WORKER_MAX_CONNECTION_AGE_SECONDS=30 \
        --gateway-env GATEWAY_WORKER_DNS_MIN_INTERVAL_SECONDS=30    # another setting

The cluster's path on one machine (``scripts/pods.py``, as root): a gateway pod and worker
pods started from their images with k8s/base's settings, in one private namespace where
``worker-headless`` resolves (dnsmasq, answering from the namespace's hosts file) to the
address of every *ready* worker, as cluster DNS does for a headless Service; each worker
binds its own address. Load runs through the gateway the whole time (4 clients sending
drawn digits), and each worker's own metrics say how many calls it answered.

Each trial scales 2 -> 3: the time from the new pod being Ready (its address in DNS) to
its first answered call ("serving"), then 3 -> 2 again, gracefully. Then, at steady state
with 2 workers, how many new connections the gateway opens per minute (connection age
closes each one and the gateway reconnects) and whether any request failed. Prints a
Markdown table; the figures are in docs/deploy.md. tests/images/test_scale_out.py uses
the same pieces for behaviour (no timing).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import images  # noqa: E402  (scripts/images.py)
import pods  # noqa: E402  (scripts/pods.py)

# Inference calls a worker answered with OK (its health service is not counted there).
SERVED = re.compile(r'^simpledl_worker_requests_total\{[^}]*code="OK"[^}]*\} ([0-9.e+]+)$', re.M)


def digit_png() -> str:
    """A thick vertical stroke (a 1), as a drawing pad would send it."""
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[56:224, 130:150] = 0
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Outcome:
    sent: float
    status: int  # 0: no answer at all
    error: str = ""


@dataclass
class Load:
    """Clients sending digits to the gateway until stopped; every outcome is kept."""

    url_socket: str
    clients: int = 4
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def run(self) -> None:
        body = {"image": digit_png()}
        transport = httpx.HTTPTransport(uds=self.url_socket)
        with httpx.Client(transport=transport, base_url="http://gateway", timeout=30) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post("/api/digits", json=body)
                    error = "" if response.status_code == 200 else response.json().get("error", "")
                    self.outcomes.append(Outcome(sent, response.status_code, error))
                except httpx.HTTPError as exc:
                    self.outcomes.append(Outcome(sent, 0, type(exc).__name__))
                time.sleep(0.01)

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(self.clients)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def since(self, start: float, until: float | None = None) -> Counter:
        return Counter((o.status, o.error) for o in list(self.outcomes)
                       if o.sent >= start and (until is None or o.sent < until))


class ScaledWorkers:
    """A gateway pod and worker replicas from the images, named as the cluster would."""

    def __init__(self, cluster: pods.Cluster, objects: list[dict], images: dict[str, str],
                 builder, worker_env: dict[str, str] | None = None,
                 gateway_env: dict[str, str] | None = None) -> None:
        self.cluster, self.objects, self.images, self.builder = cluster, objects, images, builder
        self.worker_env, self.gateway_env = worker_env or {}, gateway_env or {}
        self.workers: list[pods.Pod] = []
        self.replicas = 0
        self.gateway: pods.Pod | None = None

    def add_worker(self) -> tuple[pods.Pod, float]:
        """Start a replica; once it is ready, put it behind the name. Returns the pod and
        the moment it became an endpoint ("pod Ready")."""
        pod = pods.pod_from_image(self.cluster, self.objects, "worker", self.images,
                                  self.builder, replica=self.replicas, own_address=True,
                                  env=self.worker_env)
        self.replicas += 1
        pod.wait_ready()
        pods.name_pod(self.cluster, self.objects, pod)
        self.workers.append(pod)
        return pod, time.monotonic()

    def start(self, workers: int) -> ScaledWorkers:
        for _ in range(workers):
            self.add_worker()
        self.gateway = pods.pod_from_image(self.cluster, self.objects, "gateway", self.images,
                                           self.builder, env=self.gateway_env)
        pods.name_pod(self.cluster, self.objects, self.gateway)
        self.gateway.wait_ready()
        return self

    def gateway_socket(self) -> str:
        return str(self.cluster.forward(self.gateway.address, self.gateway.port("http")))

    def served(self, pod: pods.Pod) -> float:
        """Inference calls ``pod`` has answered (its own Prometheus counter)."""
        with contextlib.suppress(OSError):
            status, body = pods.http_get(self.cluster.forward(pod.address, pod.port("metrics")),
                                         "/metrics")
            if status == 200:
                return sum(float(v) for v in SERVED.findall(body.decode()))
        return float("nan")

    def remove_worker(self, pod: pods.Pod, kill: bool = False) -> int:
        """Scale down: out of the name at once (the endpoint goes when termination
        begins), then the kubelet's preStop and stop signal — or SIGKILL."""
        self.cluster.unname(pod.address)
        self.workers.remove(pod)
        if kill:
            pod.process.kill()
            pod.process.wait()
            return pod.process.returncode
        return pod.stop()

    def wait_serving(self, pod: pods.Pod, timeout: float) -> float | None:
        """When ``pod`` first answered an inference call, or None within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.served(pod) > 0:
                return time.monotonic()
            time.sleep(0.1)
        return None

    def connections(self) -> set[tuple[str, str]]:
        """The established gateway -> worker connections now: ``(local, peer)`` pairs."""
        grpc_ports = {str(w.port("grpc")) for w in self.workers} or {"50051"}
        out = subprocess.run(self.cluster.command(["ss", "-tnH", "state", "established"],
                                                  mount=False),
                             capture_output=True, text=True).stdout
        found = set()
        for line in out.splitlines():
            local, peer = line.split()[-2:]
            if peer.rsplit(":", 1)[1] in grpc_ports:
                found.add((local, peer))
        return found


# --------------------------------------------------------------------------- the benchmark


def trial(scaled: ScaledWorkers, bound: float) -> float | None:
    """2 -> 3 -> 2: seconds from the new pod Ready to its first answered call."""
    new, ready = scaled.add_worker()
    serving = scaled.wait_serving(new, bound)
    scaled.remove_worker(new)
    return None if serving is None else serving - ready


def steady_state(scaled: ScaledWorkers, seconds: float) -> int:
    """New gateway -> worker connections seen during ``seconds`` (polled every 0.2 s)."""
    seen = scaled.connections()
    first = set(seen)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen |= scaled.connections()
        time.sleep(0.2)
    return len(seen - first)


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"expected NAME=VALUE, got {pair!r}")
        env[key] = value
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_out",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="scale-ups to time")
    parser.add_argument("--steady", type=float, default=60, help="seconds at steady state")
    parser.add_argument("--spread", type=float, default=30,
                        help="wait a random 2 to 2 + SPREAD seconds before each scale-up")
    parser.add_argument("--seed", type=int, default=0, help="of those waits")
    parser.add_argument("--bound", type=float, default=120,
                        help="give up on a new pod after this many seconds")
    parser.add_argument("--worker-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="worker settings instead of k8s/base's")
    parser.add_argument("--gateway-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="gateway settings instead of k8s/base's")
    args = parser.parse_args(argv)
    builder = images.detect_builder()
    if builder is None:
        print(f"scale_out: {images.how_to_get_a_builder()}", file=sys.stderr)
        return 1
    if pods.DNSMASQ is None:
        print("scale_out: needs dnsmasq (apt-get install -y dnsmasq-base)", file=sys.stderr)
        return 1
    with open(REPO / "artifacts" / "scale-out-build.log", "w") as log:
        built = images.build(("worker", "gateway"), builder, log=log)
    objects = pods.render(REPO / "k8s" / "base")
    worker_env, gateway_env = parse_env(args.worker_env), parse_env(args.gateway_env)
    effective = {**pods.container_env(objects, pods.container(objects, "worker")), **worker_env}
    effective_gw = {**pods.container_env(objects, pods.container(objects, "gateway")),
                    **gateway_env}
    age = effective.get("WORKER_MAX_CONNECTION_AGE_SECONDS", "?")
    interval = effective_gw.get("GATEWAY_WORKER_DNS_MIN_INTERVAL_SECONDS", "30 (gRPC's default)")
    with pods.Cluster() as cluster:
        scaled = ScaledWorkers(cluster, objects, {b.tag: b.id for b in built.values()},
                               builder, worker_env, gateway_env).start(workers=2)
        with Load(scaled.gateway_socket()) as load:
            rng = random.Random(args.seed)
            waits = []
            for number in range(args.trials):
                # At a random moment of the connections' lifetimes, as an HPA would.
                time.sleep(rng.uniform(2, 2 + args.spread))
                waits.append(trial(scaled, args.bound))
                shown = "never" if waits[-1] is None else f"{waits[-1]:.1f} s"
                print(f"trial {number + 1}: ready -> serving {shown}", file=sys.stderr)
            steady_start = time.monotonic()
            opened = steady_state(scaled, args.steady)
            steady = load.since(steady_start)
        outcomes = load.since(0)
    served = [w for w in waits if w is not None]
    failed = sum(n for (status, _), n in outcomes.items() if status != 200)
    print(f"\nworker connection age {age} s, gateway DNS interval {interval} s, "
          f"{args.trials} scale-ups 2 -> 3 -> 2 under load\n")
    print("| ready -> serving: median | max | never | new connections per minute (2 workers) "
          "| failed requests |")
    print("|---|---|---|---|---|")
    print(f"| {statistics.median(served):.1f} s | {max(served):.1f} s | "
          f"{len(waits) - len(served)} | {opened * 60 / args.steady:.0f} | "
          f"{failed} of {sum(outcomes.values())} |" if served else "| - | - | all | - | - |")
    failures = {f"{status} {error}".strip(): n for (status, error), n in outcomes.items()
                if status != 200}
    if failures:
        print(f"\nfailed requests by answer: {failures}; at steady state: "
              f"{sum(n for (status, _), n in steady.items() if status != 200)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
