"""Run the stack from its images with the pods' own settings, on one machine, as root.

    sudo .venv/bin/python scripts/pods.py up [--port 8080]   # build, start, open the page

No container runtime and no cluster: each pod is its image's root file system (a
container of the builder, ``scripts/images.py``) started with what the rendered
Deployment says — the ConfigMaps' environment unchanged, ``runAsUser``/``runAsGroup``/
``fsGroup``, a read-only root with its ``emptyDir`` volumes as tmpfs of their
``sizeLimit``, no privilege escalation (no_new_privs), every capability gone (a non-root
user keeps none), the image's command, working directory and stop signal.

All pods share one private network namespace (the "node": only loopback) and each pod
gets its own loopback address (127.0.0.2, 127.0.0.3, ...). The namespace's hosts file
names every Service (``gateway``, ``gateway.simpledl``, ... ``.svc.cluster.local``) with
the addresses of the pods it selects, and dnsmasq, reading that file, answers for them
on 127.0.0.53 as cluster DNS would (every ready pod of a headless Service in one
answer); each pod's /etc/hosts names only itself, as the kubelet writes it. So
``0.0.0.0`` binds and ``dns:///worker-headless:50051`` work as in the cluster, as long as
each pod's ports are its own: replicas of one Deployment would share ports, so each
binds its own address instead (:func:`pod_from_image`'s ``own_address``). Without
dnsmasq every pod's /etc/hosts is the namespace's hosts file, which serves one replica
of each Deployment (gRPC's c-ares resolver reads only a name's first line there). A
Service's port must equal its target port (there is no kube-proxy).

Debian's nginx stands in for ingress-nginx, configured from the Ingress object's own
rules (``scripts/ingress_stand_in.py``). Processes outside the namespace reach anything
inside through Unix sockets (:meth:`Cluster.forward`, like ``kubectl port-forward``); a
program that must run inside (a browser) is started through :meth:`Cluster.command`. What
runs inside the namespaces (their first process, a pod's set-up, the socket relay) is
``scripts/pod_init.py``.

Not simulated: cgroup limits (resources), seccomp, a PID namespace per pod, cluster DNS
beyond names and addresses, NetworkPolicies. Linux only; needs root, util-linux (unshare,
nsenter, mount), iproute2, dnsmasq and, for the Ingress, nginx.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
INIT = SCRIPTS / "pod_init.py"  # what runs inside the namespaces
REPO = SCRIPTS.parent
CLUSTER_DOMAIN = "cluster.local"
DNSMASQ = next((p for p in ("/usr/sbin/dnsmasq", "/usr/bin/dnsmasq") if os.access(p, os.X_OK)),
               shutil.which("dnsmasq"))
DNS_ADDRESS = "127.0.0.53"  # the cluster DNS stand-in, inside the namespace
NGINX = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.access(p, os.X_OK)),
             shutil.which("nginx"))

if str(REPO) not in sys.path:  # k8s/ and services/ are packages of the checkout
    sys.path.insert(0, str(REPO))

from k8s import policy  # noqa: E402
from k8s.policy.manifests import selector_matches  # noqa: E402
from services.stack import grpc_serving  # noqa: E402


class PodError(RuntimeError):
    """A pod did not start, did not become ready, or did not stop as it should."""


# --------------------------------------------------------------------------- manifests


def render(path: Path = REPO / "k8s" / "base") -> list[dict]:
    """The objects ``kubectl kustomize PATH`` renders (:func:`k8s.policy.render`)."""
    try:
        return policy.render(path)
    except RuntimeError as error:
        raise PodError(str(error)) from None


def find(objects: list[dict], kind: str, name: str) -> dict:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise PodError(f"no {kind} {name!r} in the rendered manifests")


def container(objects: list[dict], deployment: str) -> dict:
    """The first container of Deployment ``deployment`` (the one the pods simulate)."""
    return find(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]


def container_env(objects: list[dict], container: dict) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom, then env."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = find(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {})
            env.update({source.get("prefix", "") + k: str(v) for k, v in data.items()})
        else:
            raise PodError(f"envFrom {source}: only configMapRef is simulated")
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "configMapKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["configMapKeyRef"]
            env[item["name"]] = str(find(objects, "ConfigMap", ref["name"])["data"][ref["key"]])
        else:
            raise PodError(f"env {item['name']}: only values and configMapKeyRef are simulated")
    return env


def size_bytes(quantity: str) -> int:
    """A Kubernetes quantity in bytes: ``64Mi`` -> 67108864."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return int(float(quantity[: -len(unit)]) * factor)
    return int(quantity)


def _image_user(image_config: dict) -> tuple[str, str | None]:
    """The image's ``USER`` as ``(user, group)``: ``("0", None)`` (root) when unset, the
    group None when it names none."""
    user = (image_config.get("User") or "0").split(":")
    return user[0], user[1] if len(user) > 1 else None


def _image_env(image_config: dict) -> dict[str, str]:
    """The image's ``ENV`` as a dict."""
    return dict(e.split("=", 1) for e in image_config.get("Env") or [])


@dataclass
class PodSpec:
    """What one pod of a Deployment runs, resolved against its image's configuration."""

    name: str
    labels: dict[str, str]
    image: str  # as the manifest names it
    argv: list[str]
    env: dict[str, str]
    workdir: str
    uid: int
    gid: int
    groups: list[int]
    read_only: bool
    no_new_privs: bool
    volumes: list[dict]  # {"target", "type": "tmpfs"|"bind", "size" | "source"}
    ports: dict[str, int]  # containerPort by name
    probes: dict[str, dict]  # startupProbe / readinessProbe / livenessProbe as written
    grace_seconds: float
    prestop_seconds: float
    stop_signal: int

    @classmethod
    def from_deployment(cls, objects: list[dict], name: str, image_config: dict,
                        replica: int = 0) -> PodSpec:
        """The first container of Deployment ``name``; ``image_config`` is Docker's
        image config (``User``, ``Env``, ``Entrypoint``, ``Cmd``, ``WorkingDir``, ...)."""
        template = find(objects, "Deployment", name)["spec"]["template"]
        pod, first = template["spec"], container(objects, name)
        security = {**pod.get("securityContext", {})}
        container_security = first.get("securityContext", {})
        security.update({k: v for k, v in container_security.items()
                         if k in ("runAsUser", "runAsGroup", "runAsNonRoot")})
        image_user, image_group = _image_user(image_config)
        uid = int(security.get("runAsUser", image_user))
        gid = int(security.get("runAsGroup", uid if image_group is None else image_group))
        if security.get("runAsNonRoot") and uid == 0:
            raise PodError(f"{name}: runAsNonRoot, but the pod would run as root")
        groups = sorted({gid, *([int(security["fsGroup"])] if "fsGroup" in security else [])})

        env = {**_image_env(image_config), "HOSTNAME": f"{name}-{replica}",
               **container_env(objects, first)}
        entrypoint = first.get("command") or image_config.get("Entrypoint") or []
        if "command" in first:
            cmd = first.get("args", [])
        else:
            cmd = first.get("args") or image_config.get("Cmd") or []
        volumes_by_name = {v["name"]: v for v in pod.get("volumes", [])}
        volumes = []
        for mount in first.get("volumeMounts", []):
            volume = volumes_by_name[mount["name"]]
            if "emptyDir" not in volume:
                raise PodError(f"{name}: volume {mount['name']}: only emptyDir is simulated")
            limit = volume["emptyDir"].get("sizeLimit")
            volumes.append({"target": mount["mountPath"], "type": "tmpfs",
                            "size": size_bytes(limit) if limit else None})
        return cls._build(name, replica, template["metadata"].get("labels", {}), pod, first,
                          image_config, uid, gid, groups, env, [*entrypoint, *cmd], volumes)

    @classmethod
    def from_image(cls, name: str, image_config: dict, *, args: list[str] | None = None,
                   env: dict[str, str] | None = None, tmp_size: str = "64Mi") -> PodSpec:
        """A pod with no manifest of its own (the course image), hardened like the
        stack's: the image's user, a read-only root, an emptyDir /tmp, no escalation."""
        container = {
            "image": name, "args": args or image_config.get("Cmd") or [],
            "securityContext": {"readOnlyRootFilesystem": True,
                                "allowPrivilegeEscalation": False},
        }
        user, group = _image_user(image_config)
        uid, gid = int(user), int(user if group is None else group)
        volumes = [{"target": "/tmp", "type": "tmpfs", "size": size_bytes(tmp_size)}]
        argv = [*(image_config.get("Entrypoint") or []), *container["args"]]
        return cls._build(name, 0, {}, {}, container, image_config, uid, gid, [gid],
                          {**_image_env(image_config), "HOSTNAME": f"{name}-0", **(env or {})},
                          argv, volumes)

    @classmethod
    def _build(cls, name, replica, labels, pod, container, image_config, uid, gid, groups, env,
               argv, volumes) -> PodSpec:
        """The parts common to a Deployment's pod and an image's own."""
        container_security = container.get("securityContext", {})
        prestop = container.get("lifecycle", {}).get("preStop", {})
        stop_signal = image_config.get("StopSignal") or "SIGTERM"
        return cls(
            name=f"{name}-{replica}",
            labels=labels,
            image=container["image"],
            argv=argv,
            env=env,
            workdir=container.get("workingDir") or image_config.get("WorkingDir") or "/",
            uid=uid, gid=gid, groups=groups,
            read_only=bool(container_security.get("readOnlyRootFilesystem")),
            no_new_privs=container_security.get("allowPrivilegeEscalation") is False,
            volumes=volumes,
            ports={p.get("name", str(p["containerPort"])): p["containerPort"]
                   for p in container.get("ports", [])},
            probes={k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")
                    if k in container},
            grace_seconds=float(pod.get("terminationGracePeriodSeconds", 30)),
            prestop_seconds=float(prestop.get("sleep", {}).get("seconds", 0)),
            stop_signal=int(signal.Signals[stop_signal]) if not str(stop_signal).isdigit()
            else int(stop_signal),
        )


# --------------------------------------------------------------------------- the node


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (a forwarded port)."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def http_get(path: Path, url_path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(path, timeout)
    try:
        conn.request("GET", url_path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Pod:
    """One running pod: its process (the image's command itself), address and log."""

    spec: PodSpec
    address: str
    process: subprocess.Popen
    log: Path
    root: Path
    cluster: Cluster
    exit_code: int | None = field(default=None)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def port(self, port: int | str) -> int:
        return self.spec.ports[port] if isinstance(port, str) else int(port)

    def probe(self, kind: str) -> tuple[bool, str]:
        """Run one of the pod's probes once, as the kubelet would: ``(passed, what)``."""
        probe = self.spec.probes[kind]
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            get = probe["httpGet"]
            socket_path = self.cluster.forward(self.address, self.port(get["port"]))
            try:
                status, _ = http_get(socket_path, get.get("path", "/"), timeout)
            except OSError as error:
                return False, f"GET {get.get('path', '/')}: {error}"
            return 200 <= status < 400, f"GET {get.get('path', '/')}: {status}"
        if "grpc" in probe:
            port = probe["grpc"]["port"]
            socket_path = self.cluster.forward(self.address, self.port(port))
            serving = grpc_serving(f"unix:{socket_path}", probe["grpc"].get("service", ""),
                                   timeout)
            return serving, f"gRPC health on {port}: {'SERVING' if serving else 'not serving'}"
        if "tcpSocket" in probe:
            port = self.port(probe["tcpSocket"]["port"])
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(timeout)
                    s.connect(str(self.cluster.forward(self.address, port)))
                    s.send(b"")
            except OSError as error:
                return False, f"TCP {port}: {error}"
            return True, f"TCP {port}: open"
        raise PodError(f"{self.spec.name}: {kind}: only httpGet, grpc and tcpSocket probes")

    def wait_ready(self) -> None:
        """Startup probe, then readiness, within the startup probe's budget."""
        budget = 60.0
        if "startupProbe" in self.spec.probes:
            p = self.spec.probes["startupProbe"]
            budget = float(p.get("periodSeconds", 10)) * float(p.get("failureThreshold", 3))
        deadline = time.monotonic() + budget
        for kind in ("startupProbe", "readinessProbe"):
            if kind not in self.spec.probes:
                continue
            while True:
                if self.process.poll() is not None:
                    raise PodError(f"{self.spec.name} exited ({self.process.returncode}) before "
                                   f"its {kind} passed; its log:\n{self.logs()[-4000:]}")
                passed, what = self.probe(kind)
                if passed:
                    break
                if time.monotonic() > deadline:
                    raise PodError(f"{self.spec.name}: {kind} still failing after {budget:g} s "
                                   f"({what}); its log:\n{self.logs()[-4000:]}")
                time.sleep(0.2)

    def stop(self, sig: int | None = None, prestop: bool = True) -> int:
        """Stop as the kubelet does: preStop, the image's stop signal, then SIGKILL after
        the grace period. Returns the exit code (negative: killed by that signal)."""
        if self.process.poll() is None:
            start = time.monotonic()
            if prestop and self.spec.prestop_seconds:
                time.sleep(self.spec.prestop_seconds)
            self.process.send_signal(sig or self.spec.stop_signal)
            left = self.spec.grace_seconds - (time.monotonic() - start)
            try:
                self.process.wait(timeout=max(left, 1.0))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.exit_code = self.process.returncode
        return self.exit_code

    def exec(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 300,
             ) -> subprocess.CompletedProcess:
        """Run a command inside the pod, with its user and environment (``kubectl exec``)."""
        return self.cluster.exec(self, argv, env, timeout)


class Cluster:
    """A private network + mount namespace with a hosts file: the node the pods share."""

    def __init__(self, directory: Path | None = None, namespace: str = "simpledl") -> None:
        self.made_directory = directory is None  # removed on close
        self.directory = Path(directory or tempfile.mkdtemp(prefix="simpledl-pods-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)  # the Ingress stand-in's workers (nobody) go through it
        self.namespace = namespace
        self.hosts = self.directory / "hosts"
        self.resolv = self.directory / "resolv.conf"
        self.entries: list[tuple[str, str]] = []  # (address, names)
        self.pods: list[Pod] = []
        self.holder: subprocess.Popen | None = None
        self.forwards: dict[tuple[str, int], tuple[Path, subprocess.Popen]] = {}
        self.others: list[subprocess.Popen] = []
        self.next_address = 2
        self.stack = contextlib.ExitStack()
        self.dns: subprocess.Popen | None = None

    # -- the namespace

    def start(self) -> Cluster:
        self.write_hosts()
        self.resolv.write_text(
            "# The cluster DNS stand-in (dnsmasq answering from the namespace's hosts file).\n"
            f"search {self.namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\n"
            f"nameserver {DNS_ADDRESS}\noptions ndots:5\n")
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--",
             sys.executable, str(INIT), "hold", str(self.hosts)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.holder.stdout.readline().strip() != "ready":
            self.holder.wait()
            raise PodError("could not make the private network namespace (needs root: "
                           "unshare --net --mount)")
        if DNSMASQ is not None:
            self.dns = self.run(
                [DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts",
                 f"--addn-hosts={self.hosts}", f"--listen-address={DNS_ADDRESS}",
                 "--bind-interfaces", "--pid-file=", "--log-facility=-"],
                self.directory / "dns.log", mount=False)
            self.wait_for_dns()
        return self

    def wait_for_dns(self) -> None:
        deadline = time.monotonic() + 10
        while self.dns.poll() is None and time.monotonic() < deadline:
            listening = subprocess.run(self.command(["ss", "-lun"], mount=False),
                                       capture_output=True, text=True).stdout
            if f"{DNS_ADDRESS}:53" in listening:
                return
            time.sleep(0.1)
        raise PodError("the cluster DNS stand-in (dnsmasq) did not start: "
                       + (self.directory / "dns.log").read_text())

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for pod in reversed(self.pods):
            if pod.process.poll() is None:
                pod.process.kill()
                pod.process.wait()
        for process in [*self.others, *(p for _, p in self.forwards.values())]:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.holder is not None and self.holder.poll() is None:
            self.holder.stdin.close()
            self.holder.wait(timeout=10)
        self.stack.close()
        if self.made_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def command(self, argv: list[str], mount: bool = True) -> list[str]:
        """``argv`` run inside the namespace (network; with ``mount``, its /etc/hosts too)."""
        enter = ["nsenter", "--target", str(self.holder.pid), "--net"]
        return [*enter, *(["--mount"] if mount else []), "--", *argv]

    def allocate(self) -> str:
        address = f"127.0.0.{self.next_address}"
        self.next_address += 1
        return address

    def name(self, address: str, *names: str) -> None:
        """Add ``names`` for ``address`` to the hosts file (the same file, rewritten in
        place: every pod's /etc/hosts is a bind mount of it)."""
        self.entries.append((address, " ".join(names)))
        self.write_hosts()

    def unname(self, address: str) -> None:
        self.entries = [(a, n) for a, n in self.entries if a != address]
        self.write_hosts()

    def service_names(self, service: str) -> list[str]:
        ns, domain = self.namespace, CLUSTER_DOMAIN
        return [service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.{domain}"]

    def write_hosts(self) -> None:
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 "# Services and pods (the cluster DNS stand-in)"]
        lines += [f"{address}\t{names}" for address, names in self.entries]
        with open(self.hosts, "w") as f:  # truncates the same inode
            f.write("\n".join(lines) + "\n")
        if self.dns is not None and self.dns.poll() is None:
            self.dns.send_signal(signal.SIGHUP)  # dnsmasq reads its hosts files again

    # -- pods

    def start_pod(self, spec: PodSpec, rootfs: Path, address: str | None = None,
                  env: dict[str, str] | None = None, volumes: list[dict] | None = None) -> Pod:
        """Start ``spec`` on ``rootfs`` (a writable copy of the image's file system).

        ``env`` adds to or overrides the pod's environment (nothing does by default);
        ``volumes`` adds mounts, e.g. ``{"target": "/home/x", "type": "bind", "source": p}``.
        """
        address = address or self.allocate()
        log = self.directory / f"{spec.name}.log"
        log.write_text("")
        os.chown(log, spec.uid, spec.gid)  # the pod reopens /dev/stdout (nginx does)
        launch = {
            "root": str(rootfs), "argv": spec.argv, "env": {**spec.env, **(env or {})},
            "workdir": spec.workdir, "uid": spec.uid, "gid": spec.gid, "groups": spec.groups,
            "read_only": spec.read_only, "no_new_privs": spec.no_new_privs,
            "volumes": [*spec.volumes, *(volumes or [])],
            "hosts": str(self.pod_hosts(spec.name, address)), "resolv": str(self.resolv),
        }
        spec_file = self.directory / f"{spec.name}.json"
        spec_file.write_text(json.dumps(launch))
        with open(log, "ab") as out:
            process = subprocess.Popen(
                self.command(["unshare", "--mount", "--propagation", "private", "--",
                              sys.executable, str(INIT), "pod",
                              str(spec_file)], mount=False),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        pod = Pod(spec, address, process, log, rootfs, self)
        self.pods.append(pod)
        return pod

    def pod_hosts(self, name: str, address: str) -> Path:
        """The pod's /etc/hosts as the kubelet writes it: localhost and the pod itself;
        Services are names of the cluster DNS. Without dnsmasq, the namespace's hosts
        file (every Service) instead: enough for one replica of each, but gRPC's c-ares
        resolver takes only the first line of a name from a hosts file, where cluster
        DNS answers with every pod."""
        if self.dns is None:
            return self.hosts
        path = self.directory / f"{name}.hosts"
        path.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                        f"{address}\t{name}\n")
        return path

    def exec(self, pod: Pod, argv: list[str], env: dict[str, str] | None,
             timeout: float) -> subprocess.CompletedProcess:
        launch = {"argv": argv, "env": {**pod.spec.env, **(env or {})},
                  "workdir": pod.spec.workdir, "uid": pod.spec.uid, "gid": pod.spec.gid,
                  "groups": pod.spec.groups, "no_new_privs": pod.spec.no_new_privs,
                  "root": str(pod.root), "join": True}
        return subprocess.run(
            ["nsenter", "--target", str(pod.process.pid), "--net", "--mount", "--",
             sys.executable, str(INIT), "pod", json.dumps(launch)],
            capture_output=True, text=True, timeout=timeout)

    def forward(self, address: str, port: int) -> Path:
        """A Unix socket outside the namespace connected to ``address:port`` inside it."""
        key = (address, port)
        if key not in self.forwards:
            path = self.directory / f"forward-{address}-{port}.sock"
            process = subprocess.Popen(
                self.command([sys.executable, str(INIT), "forward",
                              f"unix:{path}", address, str(port)], mount=False),
                stdout=subprocess.PIPE, text=True)
            if process.stdout.readline().strip() != "listening":
                raise PodError(f"could not forward {address}:{port}")
            self.forwards[key] = (path, process)
        return self.forwards[key][0]

    def run(self, argv: list[str], log: Path, mount: bool = True) -> subprocess.Popen:
        """Start a helper process inside the namespace (stopped with the cluster)."""
        with open(log, "ab") as out:
            process = subprocess.Popen(self.command(argv, mount), stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.others.append(process)
        return process


# --------------------------------------------------------------------------- the stack


def service_selects(service: dict, labels: dict[str, str]) -> bool:
    """A Service's selector is plain labels; one without a selector selects no pod."""
    selector = service["spec"].get("selector") or {}
    return bool(selector) and selector_matches({"matchLabels": selector}, labels)


def name_pod(cluster: Cluster, objects: list[dict], pod: Pod) -> None:
    """Put ``pod`` behind every Service that selects it (the endpoints of a Ready pod).

    There is no kube-proxy: a Service's name resolves straight to its pods' addresses,
    headless or not, so a Service's port must be the port its pods listen on."""
    for service in (o for o in objects if o["kind"] == "Service"):
        if not service_selects(service, pod.spec.labels):
            continue
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            number = pod.port(target) if isinstance(target, str) else int(target)
            if number != port["port"]:
                raise PodError(f"Service {service['metadata']['name']}: port {port['port']} "
                               f"targets {number}; without kube-proxy they must be equal")
        cluster.name(pod.address, *cluster.service_names(service["metadata"]["name"]))


def pod_from_image(cluster: Cluster, objects: list[dict], deployment: str,
                   images: dict[str, str], builder, replica: int = 0,
                   own_address: bool = False, env: dict[str, str] | None = None) -> Pod:
    """Start one pod of ``deployment`` (not yet named by its Services).

    ``own_address``: one namespace holds every replica, where two pods binding 0.0.0.0 on
    the same port would collide; each then binds its own address instead (every setting
    whose value is 0.0.0.0 becomes the pod's address — the one change to its ConfigMap).
    ``env`` changes settings on purpose (a benchmark trying other values)."""
    wanted = container(objects, deployment)["image"]
    image = images.get(wanted) or images.get(wanted.split(":")[0])
    if image is None:
        raise PodError(f"{deployment}: no built image for {wanted}")
    spec = PodSpec.from_deployment(objects, deployment, builder.inspect(image), replica)
    address = cluster.allocate()
    bind = {k: address for k, v in spec.env.items() if v == "0.0.0.0"} if own_address else {}
    rootfs = cluster.stack.enter_context(builder.rootfs(image))
    pod = cluster.start_pod(spec, rootfs, address, env={**bind, **(env or {})})
    cluster.name(pod.address, spec.name)
    return pod


def start_stack(cluster: Cluster, objects: list[dict], images: dict[str, str], builder,
                deployments: tuple[str, ...] = ("worker", "gateway", "frontend")) -> dict[str, Pod]:
    """One pod of each Deployment, from ``images`` (manifest image name -> built image
    id), named by the Services; waits until every pod is ready."""
    pods = {name: pod_from_image(cluster, objects, name, images, builder)
            for name in deployments}
    for pod in pods.values():
        name_pod(cluster, objects, pod)
    for pod in pods.values():
        pod.wait_ready()
    return pods


# --------------------------------------------------------------------------- command line


@contextlib.contextmanager
def stack_from_images(builder=None, overlay: Path = REPO / "k8s" / "base",
                      log=None) -> Iterator[tuple[Cluster, dict[str, Pod], Path]]:
    """Build the images, start the stack from them and the Ingress stand-in."""
    sys.path.insert(0, str(SCRIPTS))
    import images

    builder = builder or images.detect_builder()
    if builder is None:
        raise PodError(images.how_to_get_a_builder())
    built = images.build(("worker", "gateway", "frontend"), builder, log=log)
    objects = render(overlay)
    ids = {b.tag: b.id for b in built.values()}
    with Cluster() as cluster:
        from ingress_stand_in import start_ingress

        pods = start_stack(cluster, objects, ids, builder)
        yield cluster, pods, start_ingress(cluster, objects)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build the images, run the stack from them, serve the page")
    up.add_argument("--port", type=int, default=8080, help="the page on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("pods: needs root (namespaces, chroot, mounts): sudo .venv/bin/python "
              "scripts/pods.py up", file=sys.stderr)
        return 1
    try:
        with stack_from_images() as (cluster, pods, ingress):
            relay = subprocess.Popen([sys.executable, str(INIT), "forward",
                                      f"tcp:127.0.0.1:{args.port}", f"unix:{ingress}", "0"],
                                     stdout=subprocess.PIPE, text=True)
            cluster.others.append(relay)
            relay.stdout.readline()
            for name, pod in pods.items():
                print(f"{name}: {pod.spec.name} at {pod.address}, log {pod.log}")
            print(f"\nThe page, through the Ingress stand-in: http://127.0.0.1:{args.port}/ "
                  "(Ctrl+C stops everything)")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    except PodError as error:
        print(f"pods: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
