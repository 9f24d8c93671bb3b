"""Worker replicas behind the headless Service, added and removed as the HPA would.

Shared by tests/images/test_scale_out.py (behaviour) and benchmarks/scale_out.py (how
long a new pod waits for traffic). One private namespace holds a gateway pod and worker
pods started from their images with k8s/base's settings; ``worker-headless`` resolves,
through the namespace's hosts file, to the address of every *ready* worker, as cluster
DNS answers for a headless Service. Each worker binds its own address (one namespace
holds them all). Load runs through the gateway the whole time, and each worker's own
metrics say how many calls it answered.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import numpy as np
from image_helpers import pods
from PIL import Image

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
                 builder) -> None:
        self.cluster, self.objects, self.images, self.builder = cluster, objects, images, builder
        self.workers: list[pods.Pod] = []
        self.replicas = 0
        self.gateway: pods.Pod | None = None

    def add_worker(self) -> tuple[pods.Pod, float]:
        """Start a replica; once it is ready, put it behind the name. Returns the pod and
        the moment it became an endpoint ("pod Ready")."""
        pod = pods.pod_from_image(self.cluster, self.objects, "worker", self.images,
                                  self.builder, replica=self.replicas, own_address=True)
        self.replicas += 1
        pod.wait_ready()
        pods.name_pod(self.cluster, self.objects, pod)
        self.workers.append(pod)
        return pod, time.monotonic()

    def start(self, workers: int) -> ScaledWorkers:
        for _ in range(workers):
            self.add_worker()
        self.gateway = pods.pod_from_image(self.cluster, self.objects, "gateway", self.images,
                                           self.builder)
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
