"""Build the project's container images: worker, gateway, frontend (the page) and course.

    python scripts/images.py build [NAME ...]   # all four by default; what `make images` runs
    python scripts/images.py list               # what is built: tag, id, size, base

Each image is ``services/docker/NAME.Dockerfile`` built from the repository root and
tagged ``simpledl/NAME:VERSION`` (the version in pyproject.toml, as the manifests use).

**Which tool.** Docker when a Docker daemon answers, otherwise buildah, daemonless: the
chroot isolation and the host's network, which is what works on a machine without a
container runtime (a CI runner; see ``../shared/notes/containers-without-a-daemon.md``),
with the overlay storage driver where the kernel mounts it and vfs otherwise.
``SIMPLEDL_BUILDER=docker|buildah`` chooses the tool, ``SIMPLEDL_STORAGE_DRIVER`` the driver.

**Base images** are pulled when a registry answers. Where none does, a base that a Debian
bootstrap can make (``python:X.Y.Z-slim-CODENAME``, ``debian:...-slim``) is made by
``scripts/stand_in_base_images.py`` as a *local stand-in* under the exact tag. A stand-in
says so in its labels; this script says so when it builds on one, and the image built on
it carries the label ``simpledl.base.stand-in``. ``--no-stand-ins`` refuses them.

**Storage (buildah).** As root: ``/var/lib/simpledl/containers``, shared by every checkout
on the machine, so a second build reuses the base images and the cached layers
(``--layers``); ``SIMPLEDL_IMAGE_STORE=DIR`` puts it elsewhere (an empty directory means
a cold build). Without root: buildah's own (rootless) default storage.

Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
DOCKER_DIR = REPO / "services" / "docker"
IMAGES = ("worker", "gateway", "frontend", "course")
SYSTEM_STORE = Path("/var/lib/simpledl/containers")
STAND_IN_LABEL = "simpledl.stand-in"  # on a stand-in base image: what it is instead
BUILT_ON_STAND_IN_LABEL = "simpledl.base.stand-in"  # on an image built on a stand-in


class BuildError(RuntimeError):
    """A build step failed; the message says which and how to see why."""


@functools.cache
def version() -> str:
    """The project's version in pyproject.toml (read once)."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def dockerfile(name: str) -> Path:
    return DOCKER_DIR / f"{name}.Dockerfile"


def tag(name: str) -> str:
    return f"simpledl/{name}:{version()}"


def qualify(ref: str) -> str:
    """Docker Hub's full name for a short reference.

    ``python:3.11`` -> ``docker.io/library/python:3.11``; a reference with a registry stays.
    """
    first = ref.split("/")[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def base_images(path: Path) -> list[str]:
    """The external images a Dockerfile starts from (``FROM x``; not its own stages)."""
    stages: set[str] = set()
    bases: list[str] = []
    for line in path.read_text().splitlines():
        match = re.match(r"\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if not match:
            continue
        ref, stage = match[1], match[2]
        if ref.lower() not in stages and ref not in bases:
            bases.append(ref)
        if stage:
            stages.add(stage.lower())
    return bases


def run(cmd: list[str], *, log=None, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a tool; its output goes to ``log`` (a file) or to ours."""
    result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT if log else None,
                            text=True, **kwargs)
    if check and result.returncode != 0:
        raise BuildError(f"failed (exit {result.returncode}): {' '.join(cmd)}")
    return result


def parse_size(text: str) -> int:
    """Bytes from a builder's human-readable size: ``"130 MB"`` -> 130000000."""
    number, _, unit = text.strip().partition(" ")
    scale = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
    return int(float(number) * scale[unit or "B"])


def output(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"failed (exit {result.returncode}): {' '.join(cmd)}\n{result.stderr}")
    return result.stdout


@dataclass
class Built:
    """One image as built: its name, tag, id, what it was built on, and the cost."""

    name: str
    tag: str
    id: str
    bases: dict[str, str]  # base reference -> "pulled" | "present" | "stand-in" (how it came)
    seconds: float
    size: int  # bytes, uncompressed, as the builder reports it
    stand_in: bool = field(default=False)


class Builder:
    """What the build, the tests and the runner need from a container tool."""

    name = "?"

    def available(self) -> bool:
        raise NotImplementedError

    def has_image(self, ref: str) -> bool:
        raise NotImplementedError

    def pull(self, ref: str, log=None) -> bool:
        raise NotImplementedError

    def build(self, name: str, labels: dict[str, str], iidfile: Path, log=None) -> None:
        raise NotImplementedError

    def inspect(self, ref: str) -> dict:
        """The image's configuration, Docker style: ``{"User", "Env", "Cmd", ...}``."""
        raise NotImplementedError

    def labels(self, ref: str) -> dict[str, str]:
        """The image's labels; :class:`BuildError` when there is no such image."""
        return self.inspect(ref).get("Labels") or {}

    def size(self, ref: str) -> int:
        raise NotImplementedError

    def rootfs(self, ref: str) -> contextlib.AbstractContextManager[Path]:
        """A writable copy of the image's file system (a container's), removed afterwards."""
        raise NotImplementedError


class Buildah(Builder):
    """buildah: chroot isolation, the host's network, overlay or vfs storage."""

    name = "buildah"

    def __init__(self, store: Path | None = None) -> None:
        if store is None and os.environ.get("SIMPLEDL_IMAGE_STORE"):
            store = Path(os.environ["SIMPLEDL_IMAGE_STORE"])
        if store is None and os.geteuid() == 0:
            store = SYSTEM_STORE
        self.store = store
        self._driver: str | None = None

    @property
    def driver(self) -> str | None:
        """overlay where the kernel mounts it on the storage's file system, else vfs.

        vfs copies every layer in full (a build step costs seconds and hundreds of MB);
        overlay shares them. A store keeps the driver it was created with."""
        if self.store is None:
            return None  # rootless: buildah's own configuration decides
        if self._driver is None:
            existing = [d for d in ("overlay", "vfs")
                        if (self.store / "storage" / f"{d}-images").is_dir()]
            self._driver = (os.environ.get("SIMPLEDL_STORAGE_DRIVER")
                            or (existing[0] if existing else self._probe_overlay()))
        return self._driver

    def _probe_overlay(self) -> str:
        self.store.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.store, prefix="probe-") as tmp:
            probe = ["buildah", "--root", f"{tmp}/storage", "--runroot", f"{tmp}/run",
                     "--storage-driver", "overlay"]
            made = subprocess.run([*probe, "from", "scratch"], capture_output=True, text=True)
            works = made.returncode == 0 and subprocess.run(
                [*probe, "mount", made.stdout.strip()], capture_output=True).returncode == 0
            if made.returncode == 0:
                subprocess.run([*probe, "rm", "--all"], capture_output=True)
            subprocess.run(["umount", "-R", f"{tmp}/storage"], capture_output=True)
        return "overlay" if works else "vfs"

    def command(self, *args: str) -> list[str]:
        cmd = ["buildah"]
        if self.store is not None:
            cmd += ["--root", str(self.store / "storage"), "--runroot", str(self.store / "run"),
                    "--storage-driver", self.driver]
        return [*cmd, *args]

    def available(self) -> bool:
        return shutil.which("buildah") is not None

    def has_image(self, ref: str) -> bool:
        result = subprocess.run(self.command("inspect", "--type", "image", ref),
                                capture_output=True, text=True)
        return result.returncode == 0

    def pull(self, ref: str, log=None) -> bool:
        return run(self.command("pull", qualify(ref)), log=log, check=False).returncode == 0

    def build(self, name: str, labels: dict[str, str], iidfile: Path, log=None) -> None:
        cmd = self.command(
            "bud", "--isolation", "chroot", "--network", "host", "--layers", "--pull-never",
            # Docker's format keeps HEALTHCHECK (the OCI format has no such field).
            "--format", "docker", "-f", str(dockerfile(name)), "-t", tag(name),
            "--iidfile", str(iidfile),
        )
        for key, value in labels.items():
            cmd += ["--label", f"{key}={value}"]
        run([*cmd, str(REPO)], log=log, cwd=REPO)

    def inspect(self, ref: str) -> dict:
        data = json.loads(output(self.command("inspect", "--type", "image", ref)))
        return data["Docker"]["config"]

    def size(self, ref: str) -> int:
        listed = json.loads(output(self.command("images", "--json", ref)))
        return parse_size(listed[0]["size"])

    @contextlib.contextmanager
    def rootfs(self, ref: str) -> Iterator[Path]:
        container = output(self.command("from", "--pull-never", ref)).strip().splitlines()[-1]
        try:
            yield Path(output(self.command("mount", container)).strip())
        finally:
            subprocess.run(self.command("umount", container), capture_output=True)
            subprocess.run(self.command("rm", container), capture_output=True)


class Docker(Builder):
    """A Docker daemon (docker build; docker create/export for a file system)."""

    name = "docker"

    def available(self) -> bool:
        if shutil.which("docker") is None:
            return False
        return subprocess.run(["docker", "info"], capture_output=True).returncode == 0

    def has_image(self, ref: str) -> bool:
        return subprocess.run(["docker", "image", "inspect", ref],
                              capture_output=True).returncode == 0

    def pull(self, ref: str, log=None) -> bool:
        return run(["docker", "pull", ref], log=log, check=False).returncode == 0

    def build(self, name: str, labels: dict[str, str], iidfile: Path, log=None) -> None:
        cmd = ["docker", "build", "-f", str(dockerfile(name)), "-t", tag(name),
               "--iidfile", str(iidfile)]
        for key, value in labels.items():
            cmd += ["--label", f"{key}={value}"]
        run([*cmd, str(REPO)], log=log, cwd=REPO)

    def inspect(self, ref: str) -> dict:
        return json.loads(output(["docker", "image", "inspect", ref]))[0]["Config"]

    def size(self, ref: str) -> int:
        return int(output(["docker", "image", "inspect", "--format", "{{.Size}}", ref]))

    @contextlib.contextmanager
    def rootfs(self, ref: str) -> Iterator[Path]:
        container = output(["docker", "create", ref]).strip()
        directory = Path(tempfile.mkdtemp(prefix="simpledl-rootfs-"))
        try:
            export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
            run(["tar", "-C", str(directory), "-x"], stdin=export.stdout)
            export.wait()
            yield directory
        finally:
            subprocess.run(["docker", "rm", container], capture_output=True)
            shutil.rmtree(directory, ignore_errors=True)


def detect_builder() -> Builder | None:
    """Docker if its daemon answers, else buildah if installed (SIMPLEDL_BUILDER decides)."""
    wanted = os.environ.get("SIMPLEDL_BUILDER", "")
    candidates = {"docker": Docker(), "buildah": Buildah()}
    if wanted:
        if wanted not in candidates:
            raise BuildError(f"SIMPLEDL_BUILDER={wanted!r}: expected docker or buildah")
        return candidates[wanted] if candidates[wanted].available() else None
    for builder in candidates.values():
        if builder.available():
            return builder
    return None


def how_to_get_a_builder() -> str:
    wanted = os.environ.get("SIMPLEDL_BUILDER")
    if wanted:
        return (f"SIMPLEDL_BUILDER={wanted}, but {wanted} is not available here "
                "(unset it to use whichever builder is)")
    return ("no image builder: neither a Docker daemon answers nor is buildah installed. "
            "Start Docker, or install buildah (Debian, as root: apt-get install -y buildah "
            "debootstrap; `make sysdeps` does it)")


def ensure_base(builder: Builder, ref: str, *, stand_ins: bool, log=None) -> str:
    """Make ``ref`` available: "present", "pulled" or "stand-in"."""
    for candidate in (ref, qualify(ref)):
        try:
            labels = builder.labels(candidate)  # one inspect: is it there, is it a stand-in
        except BuildError:
            continue
        return "stand-in" if STAND_IN_LABEL in labels else "present"
    say(f"base image {ref}: pulling", log)
    if builder.pull(ref, log=log):
        return "pulled"
    if not stand_ins:
        raise BuildError(f"base image {ref} could not be pulled (no registry answered), and "
                         "stand-ins were refused (--no-stand-ins)")
    say(f"base image {ref}: no registry answers; making a LOCAL STAND-IN with "
        "scripts/stand_in_base_images.py (a Debian bootstrap, not the official image)", log)
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    import stand_in_base_images

    stand_in_base_images.make(builder, ref, log=log)
    return "stand-in"


def say(message: str, log=None) -> None:
    print(f"images: {message}", flush=True)
    if log is not None:
        log.write(f"images: {message}\n")
        log.flush()


def build(names: list[str] | tuple[str, ...] = IMAGES, builder: Builder | None = None, *,
          stand_ins: bool = True, log=None) -> dict[str, Built]:
    """Build ``names`` in order; returns what was built, by name."""
    builder = builder or detect_builder()
    if builder is None:
        raise BuildError(how_to_get_a_builder())
    unknown = [n for n in names if n not in IMAGES]
    if unknown:
        raise BuildError(f"unknown image {', '.join(unknown)}; "
                         f"expected some of {', '.join(IMAGES)}")
    built: dict[str, Built] = {}
    checked: dict[str, str] = {}  # base -> how it came, checked once per build
    for name in names:
        bases = {}
        for ref in base_images(dockerfile(name)):
            if ref in checked:  # an earlier image's base (one it pulled is present now)
                bases[ref] = "present" if checked[ref] == "pulled" else checked[ref]
            else:
                bases[ref] = checked[ref] = ensure_base(builder, ref, stand_ins=stand_ins,
                                                        log=log)
        stand_in = [ref for ref, how in bases.items() if how == "stand-in"]
        labels = {
            "org.opencontainers.image.version": version(),
            "org.opencontainers.image.base.name": list(bases)[-1],
        }
        if stand_in:
            labels[BUILT_ON_STAND_IN_LABEL] = (
                f"built on local stand-in base image(s) {', '.join(stand_in)} made by "
                "scripts/stand_in_base_images.py, not the official images")
        say(f"building {tag(name)} with {builder.name}"
            + (f" ON LOCAL STAND-IN BASE {', '.join(stand_in)}" if stand_in else ""), log)
        with tempfile.TemporaryDirectory() as tmp:
            iidfile = Path(tmp) / "iid"
            start = time.monotonic()
            try:
                builder.build(name, labels, iidfile, log=log)
            except BuildError as error:
                raise BuildError(f"building {name}: {error}") from None
            seconds = time.monotonic() - start
            image_id = iidfile.read_text().strip().removeprefix("sha256:")
        size = builder.size(image_id)
        built[name] = Built(name, tag(name), image_id, bases, seconds, size, bool(stand_in))
        say(f"built {tag(name)} ({image_id[:12]}) in {seconds:.0f} s, {size / 1e6:.0f} MB", log)
    return built


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build images (default: all)")
    build_cmd.add_argument("names", nargs="*", default=list(IMAGES), metavar="NAME")
    build_cmd.add_argument("--no-stand-ins", action="store_true",
                           help="fail instead of making local stand-ins for unpullable bases")
    sub.add_parser("list", help="the built images: tag, id, size, base")
    args = parser.parse_args(argv)

    try:
        builder = detect_builder()
        if builder is None:
            raise BuildError(how_to_get_a_builder())
        if args.command == "build":
            built = build(args.names, builder, stand_ins=not args.no_stand_ins)
            print(f"\n{'image':<28} {'id':<12} {'MB':>6} {'s':>5}  base")
            for b in built.values():
                bases = ", ".join(f"{ref} ({how})" for ref, how in b.bases.items())
                print(f"{b.tag:<28} {b.id[:12]:<12} {b.size / 1e6:>6.0f} "
                      f"{b.seconds:>5.0f}  {bases}")
        else:
            print(f"{'image':<28} {'MB':>6}  base")
            for name in IMAGES:
                try:
                    labels = builder.labels(tag(name))
                except BuildError:
                    print(f"{tag(name):<28} {'-':>6}  not built")
                    continue
                base = labels.get("org.opencontainers.image.base.name", "?")
                note = " (LOCAL STAND-IN)" if BUILT_ON_STAND_IN_LABEL in labels else ""
                print(f"{tag(name):<28} {builder.size(tag(name)) / 1e6:>6.0f}  {base}{note}")
    except BuildError as error:
        print(f"images: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run as the module `images`, the one scripts/stand_in_base_images.py imports, so
    # both see the same classes.
    sys.path.insert(0, str(SCRIPTS))
    import images

    sys.exit(images.main(sys.argv[1:]))
