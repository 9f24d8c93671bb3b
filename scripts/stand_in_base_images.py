"""Make LOCAL STAND-INS for the base images when no container registry can be reached.

    python scripts/stand_in_base_images.py python:3.11.14-slim-bookworm debian:12.12-slim

A machine that reaches Debian's package archive but no container registry (a CI runner
behind a firewall) cannot pull ``python:...-slim-bookworm`` or ``debian:...-slim``. This
makes an image under the exact tag from a Debian bootstrap instead (``debootstrap
--variant=minbase`` from the Debian mirror the host's apt uses), shaped like the official
image where the Dockerfiles depend on it:

- ``debian:N[.M]-slim`` / ``debian:CODENAME[-DATE]-slim``: Debian CODENAME, minbase plus
  ca-certificates, netbase and tzdata; documentation excluded from later installs
  (dpkg path excludes) and apt caches cleaned after each install, as the official slim
  images do.
- ``python:X.Y[.Z]-slim-CODENAME``: the same plus Debian's python3 and python3-venv, with
  ``python``/``python3`` on PATH in /usr/local/bin as in the official image. Debian's
  Python must have the same minor version X.Y (bookworm: 3.11), else this refuses; the
  patch version is Debian's (bookworm: 3.11.2), not Z.

The host's CA bundle replaces the bootstrap's, so HTTPS from inside a build (pip) trusts
what the host trusts. Every stand-in carries the label ``simpledl.stand-in`` saying what
it is; images built on it inherit that label, and ``scripts/images.py`` says so when it
builds on one. A stand-in is never pushed anywhere: on a machine with a registry, the
Dockerfiles pull the official images and this script is not used. Needs root, debootstrap
and the builder (buildah, or docker via ``docker import``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import images  # noqa: E402  (the builder and storage settings live there)

CODENAMES = {"11": "bullseye", "12": "bookworm", "13": "trixie"}
DEBIAN_PYTHON = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

# As the official slim images (debuerreotype's "slimify" and minimizing settings).
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
"""
_CLEAN = ('"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
          '/var/cache/apt/*.bin || true"')
APT_CLEAN = (f"DPkg::Post-Invoke {{ {_CLEAN}; }};\n"
             f"APT::Update::Post-Invoke {{ {_CLEAN}; }};\n"
             'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n')


class StandInError(images.BuildError):
    """No stand-in can be made for this reference (or making it failed)."""


def recipe(ref: str) -> tuple[str, str | None]:
    """``(Debian codename, Python minor or None)`` for a base reference, or refuse."""
    name = ref.split("/")[-1]
    repo, _, tag = name.partition(":")
    if repo == "python":
        match = re.fullmatch(r"(\d+\.\d+)(?:\.\d+)?-slim-([a-z]+)", tag)
        if match:
            minor, codename = match[1], match[2]
            if DEBIAN_PYTHON.get(codename) != minor:
                raise StandInError(
                    f"{ref}: Debian {codename} has Python {DEBIAN_PYTHON.get(codename, '?')}, "
                    f"not {minor}; a stand-in would not have the same Python minor version")
            return codename, minor
    if repo == "debian":
        match = re.fullmatch(r"(\d+)(?:\.\d+)?-slim|([a-z]+)(?:-\d{8})?-slim", tag)
        if match:
            codename = CODENAMES.get(match[1]) if match[1] else match[2]
            if codename in DEBIAN_PYTHON:
                return codename, None
    raise StandInError(
        f"no stand-in recipe for {ref}: this script makes python:X.Y.Z-slim-CODENAME and "
        "debian:N-slim bases only. Pull the image on a machine that reaches its registry "
        "(docker pull / docker save, then load it here), or choose one of those bases")


def host_mirrors() -> tuple[str, str | None]:
    """``(Debian mirror, security mirror or None)`` as the host's apt uses them."""
    main, security = None, None
    texts = [p.read_text() for p in sorted(Path("/etc/apt").glob("sources.list.d/*.sources"))]
    for stanza in "\n\n".join(texts).split("\n\n"):
        fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.M))
        if "URIs" in fields and "deb" in fields.get("Types", "").split():
            uri = fields["URIs"].split()[0]
            if "-security" in fields.get("Suites", ""):
                security = security or uri
            else:
                main = main or uri
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt").glob("sources.list.d/*.list")]:
        if path.is_file():
            lines = re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", path.read_text(), re.M)
            for match in lines:
                if "-security" in match[2] or "/security" in match[2]:
                    security = security or match[1]
                else:
                    main = main or match[1]
    return main or "http://deb.debian.org/debian", security


def sources(codename: str, main: str, security: str | None) -> str:
    text = (f"Types: deb\nURIs: {main}\nSuites: {codename} {codename}-updates\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    if security:
        text += (f"\nTypes: deb\nURIs: {security}\nSuites: {codename}-security\n"
                 "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    return text


def bootstrap(root: Path, ref: str, cache: Path, log=None) -> dict[str, str]:
    """Fill ``root`` with the stand-in's files; returns its config (env, cmd, labels)."""
    if os.geteuid() != 0:
        raise StandInError("making a stand-in base image needs root (debootstrap)")
    if shutil.which("debootstrap") is None:
        raise StandInError("debootstrap is not installed (apt-get install -y debootstrap)")
    codename, minor = recipe(ref)
    main, security = host_mirrors()
    packages = ["ca-certificates", "netbase", "tzdata"]
    if minor:
        packages += ["python3", "python3-venv"]
    cache.mkdir(parents=True, exist_ok=True)
    # dpkg without fsync while bootstrapping (a throwaway file system until committed).
    unsafe_io = root / "etc/dpkg/dpkg.cfg.d/simpledl-unsafe-io"
    unsafe_io.parent.mkdir(parents=True, exist_ok=True)
    unsafe_io.write_text("force-unsafe-io\n")
    images.run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
                f"--cache-dir={cache}", codename, str(root), main], log=log)

    unsafe_io.unlink()
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(sources(codename, main, security))
    (root / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_EXCLUDES)
    (root / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
    (root / "etc/apt/apt.conf.d/docker-no-languages").write_text('Acquire::Languages "none";\n')
    policy = root / "usr/sbin/policy-rc.d"  # no service starts inside an image build
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    for directory in ("usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian"):
        shutil.rmtree(root / directory, ignore_errors=True)
    for path in (root / "usr/share/doc").glob("*/*"):
        if path.name != "copyright":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for directory in ("var/lib/apt/lists", "var/cache/apt"):  # files only: apt needs the dirs
        for path in (root / directory).rglob("*"):
            if path.is_file() and path.name != "lock":
                path.unlink()
    # The build environment's, not this host's, at run time.
    for name in ("etc/hostname", "etc/resolv.conf", "etc/hosts", "etc/machine-id"):
        path = root / name
        if path.exists() or path.is_symlink():
            path.unlink()
        if name == "etc/machine-id":
            path.write_text("")
    if HOST_CA_BUNDLE.is_file():
        shutil.copyfile(HOST_CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")

    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8"}
    cmd = "bash"
    what = f"Debian {codename} (debootstrap --variant=minbase from {main})"
    if minor:
        real = subprocess.run(["chroot", str(root), "python3", "-c",
                               "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        if not real.startswith(minor + "."):
            raise StandInError(f"{ref}: the bootstrap's Python is {real}, not {minor}")
        for link in ("python", "python3"):
            target = root / "usr/local/bin" / link
            target.unlink(missing_ok=True)
            target.symlink_to("/usr/bin/python3")
        env["PYTHON_VERSION"] = real
        cmd = "python3"
        what += f", Debian's Python {real} (/usr/bin/python3, linked as /usr/local/bin/python)"
    made = time.strftime("%Y-%m-%d")
    labels = {
        images.STAND_IN_LABEL: (f"LOCAL STAND-IN for {ref}, not the official image: {what}; "
                                f"host CA bundle; made {made} by scripts/stand_in_base_images.py"),
        "org.opencontainers.image.description": f"local stand-in for {ref}",
    }
    return {"env": env, "cmd": cmd, "labels": labels}


def make(builder: images.Builder, ref: str, log=None) -> None:
    """Bootstrap a stand-in for ``ref`` and store it in ``builder``'s images as ``ref``."""
    recipe(ref)  # refuse early
    name = images.qualify(ref)
    start = time.monotonic()
    # Downloaded .deb files, kept beside the image storage: the next stand-in reuses them.
    store = getattr(builder, "store", None) or Path("/var/cache/simpledl")
    cache = store / "debootstrap"
    if isinstance(builder, images.Buildah):
        container = images.output(builder.command("from", "scratch")).strip().splitlines()[-1]
        try:
            root = Path(images.output(builder.command("mount", container)).strip())
            config = bootstrap(root, ref, cache, log=log)
            args = ["config", "--cmd", config["cmd"]]
            for key, value in config["env"].items():
                args += ["--env", f"{key}={value}"]
            for key, value in config["labels"].items():
                args += ["--label", f"{key}={value}"]
            images.run(builder.command(*args, container), log=log)
            images.run(builder.command("umount", container), log=log)
            images.run(builder.command("commit", "--format", "docker", "--rm", container, name),
                       log=log)
        except BaseException:
            subprocess.run(builder.command("rm", container), capture_output=True)
            raise
    elif isinstance(builder, images.Docker):
        with tempfile.TemporaryDirectory(prefix="simpledl-stand-in-") as tmp:
            root = Path(tmp) / "rootfs"
            root.mkdir()
            config = bootstrap(root, ref, cache, log=log)
            changes = [f'CMD ["{config["cmd"]}"]']
            changes += [f"ENV {k}={v}" for k, v in config["env"].items()]
            changes += [f'LABEL {k}="{v}"' for k, v in config["labels"].items()]
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            cmd = ["docker", "import"]
            for change in changes:
                cmd += ["--change", change]
            images.run([*cmd, "-", name], log=log, stdin=tar.stdout)
            tar.wait()
    else:
        raise StandInError(f"cannot store a stand-in with {builder.name}")
    images.say(f"made LOCAL STAND-IN {name} in {time.monotonic() - start:.0f} s", log)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    builder = images.detect_builder()
    if builder is None:
        print(f"stand-in: error: {images.how_to_get_a_builder()}", file=sys.stderr)
        return 1
    try:
        for ref in argv:
            make(builder, ref)
    except images.BuildError as error:
        print(f"stand-in: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
