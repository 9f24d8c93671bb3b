"""What each built image holds: its own service only, readable by its user, its user,
its ports and settings, its size, and whether it was built on a local stand-in base.

Read from the built images themselves (a container's file system and the image's
configuration), not from the Dockerfiles: what the build really produced.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest
from image_helpers import REPO, images, pods

pytestmark = pytest.mark.slow

#: Bytes each image may take, uncompressed (base included): about 1.5 times its size
#: today (docs/deploy.md lists them), so a stray copy of something large fails here.
SIZE_BUDGET = {"worker": 380e6, "gateway": 280e6, "frontend": 140e6, "course": 1000e6}
SERVICE_MODULES = {"__init__.py", "imaging.py", "logs.py", "proto"}  # shared by both services


@pytest.fixture(scope="module")
def rootfs(builder, built):
    """Each image's file system (a container of it, removed afterwards)."""
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(builder.rootfs(b.id)) for name, b in built.items()}


def files(directory: Path) -> dict[str, bytes | str]:
    """Each file's bytes, each symbolic link's target (as ``-> target``)."""
    found: dict[str, bytes | str] = {}
    for path in directory.rglob("*"):
        if "__pycache__" in path.parts:
            continue
        name = path.relative_to(directory).as_posix()
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[name] = path.read_bytes()
    return found


def dangling_links(root: Path, *directories: str) -> list[str]:
    return [str(p.relative_to(root)) for d in directories for p in (root / d).rglob("*")
            if p.is_symlink() and not resolve_inside(root, p).exists()]


def resolve_inside(root: Path, link: Path) -> Path:
    """Where ``link`` points inside the image (an absolute target is the image's)."""
    target = os.readlink(link)
    return root / target.lstrip("/") if target.startswith("/") else link.parent / target


def site_packages(root: Path) -> Path:
    (found,) = (root / "opt" / "venv" / "lib").glob("python3.*/site-packages")
    return found


def installed(root: Path) -> set[str]:
    return {p.name.split("-")[0].lower().replace("_", "-")
            for p in site_packages(root).glob("*.dist-info")}


def repo_files(*parts: str) -> dict[str, bytes]:
    return files(REPO.joinpath(*parts))


def test_the_worker_image_holds_the_worker_dlcore_and_the_models(rootfs):
    app = rootfs["worker"] / "app"
    assert {p.name for p in (app / "services").iterdir()} - {"__pycache__"} == (
        SERVICE_MODULES | {"worker"})
    assert files(app / "services" / "worker") == repo_files("services", "worker")
    assert files(app / "dlcore") == repo_files("dlcore")
    assert not dangling_links(rootfs["worker"], "app")
    assert files(app / "models") == {k: v for k, v in repo_files("models").items()
                                     if k.endswith((".npz", ".json"))}
    packages = installed(rootfs["worker"])
    assert {"numpy", "grpcio", "pillow"} <= packages
    assert not {"fastapi", "uvicorn", "httpx", "jupyterlab"} & packages


def test_the_gateway_image_holds_the_gateway_only(rootfs):
    app = rootfs["gateway"] / "app"
    assert {p.name for p in (app / "services").iterdir()} - {"__pycache__"} == (
        SERVICE_MODULES | {"gateway"})
    assert files(app / "services" / "gateway") == repo_files("services", "gateway")
    assert not (app / "dlcore").exists() and not (app / "models").exists()
    packages = installed(rootfs["gateway"])
    assert {"fastapi", "uvicorn", "grpcio", "pillow"} <= packages
    assert not {"numpy", "h5py", "jupyterlab"} & packages


def test_the_frontend_image_holds_the_page_and_its_config_and_no_python(rootfs):
    root = rootfs["frontend"]
    assert files(root / "usr/share/nginx/html") == repo_files("services", "frontend")
    assert (root / "etc/nginx/nginx.conf").read_bytes() == (
        REPO / "services/docker/nginx.conf").read_bytes()
    assert not (root / "app").exists() and not (root / "opt/venv").exists()
    assert not list((root / "usr/bin").glob("python3*"))
    assert not list((root / "etc/nginx").glob("sites-*"))  # the config is complete as copied


def test_the_course_image_holds_the_course_and_verified_data(rootfs):
    course = rootfs["course"] / "opt" / "course"
    assert files(course / "notebooks") == repo_files("notebooks")
    assert files(course / "dlcore") == repo_files("dlcore")
    assert not dangling_links(rootfs["course"], "opt/course")
    assert {"jupyterlab", "ipykernel", "ipycanvas", "jupyterhub", "numpy", "grpcio"} <= (
        installed(rootfs["course"]))
    for name in ("cats", "mnist-small"):  # as `make data` fetched and verified them here
        baked = files(course / "datasets" / name)
        assert baked and baked == repo_files("datasets", name), name


def test_everything_the_service_runs_is_readable_by_its_user_and_not_writable(rootfs):
    """COPY keeps a checkout's modes (umask 077: root-only); the build must fix them."""
    for name, directories in (("worker", ["app", "opt/venv"]), ("gateway", ["app", "opt/venv"]),
                              ("frontend", ["usr/share/nginx/html", "etc/nginx"]),
                              ("course", ["opt/course", "opt/venv"])):
        for directory in directories:
            for path in (rootfs[name] / directory).rglob("*"):
                if path.is_symlink():
                    continue
                mode, where = path.stat().st_mode, f"{name}: /{path.relative_to(rootfs[name])}"
                assert mode & stat.S_IROTH, f"{where} is not readable by the service's user"
                assert not mode & stat.S_IWOTH, f"{where} is writable by anyone"
                assert path.stat().st_uid != 10001, f"{name}: owned by the service's user"


def test_each_image_runs_as_the_deployments_non_root_user(builder, built, objects):
    for name, b in built.items():
        user = builder.inspect(b.id)["User"]
        assert user == "10001:10001", (name, user)
        if name != "course":
            spec = pods.find(objects, "Deployment", name)["spec"]["template"]["spec"]
            assert int(user.split(":")[0]) == spec["securityContext"]["runAsUser"]


def test_each_image_exposes_its_containers_ports_and_sets_its_configmaps_values(
        builder, built, objects):
    for name in ("worker", "gateway", "frontend"):
        config = builder.inspect(built[name].id)
        container = pods.find(objects, "Deployment", name)["spec"]["template"]["spec"][
            "containers"][0]
        exposed = {int(p.split("/")[0]) for p in config.get("ExposedPorts") or {}}
        assert exposed == {p["containerPort"] for p in container["ports"]}, name
        image_env = dict(e.split("=", 1) for e in config.get("Env") or [])
        configmap = pods.container_env(objects, container)
        for key, value in image_env.items():  # what both set, they set alike
            if key in configmap:
                assert configmap[key] == value, (name, key, value, configmap[key])


def test_each_image_stays_within_its_size_budget(built):
    for name, b in built.items():
        print(f"{b.tag}: {b.size / 1e6:.0f} MB" + (" (on a local stand-in base)" if b.stand_in
                                                   else ""))
        assert b.size <= SIZE_BUDGET[name], f"{b.tag}: {b.size / 1e6:.0f} MB"


def test_an_image_on_a_stand_in_base_says_so(builder, built):
    for name, b in built.items():
        labels = builder.labels(b.id)
        if b.stand_in:
            assert images.BUILT_ON_STAND_IN_LABEL in labels, name
            assert "LOCAL STAND-IN" in labels[images.STAND_IN_LABEL], name
        else:
            assert images.STAND_IN_LABEL not in labels, name
        assert labels["org.opencontainers.image.version"] == images.version()
