"""The Kubernetes manifests render, validate against the API schemas, and keep the policy.

No cluster here, so three static checks of what `kubectl apply -k` would send:

1. `kubectl kustomize` renders the base and both overlays;
2. every rendered object validates against the Kubernetes OpenAPI schemas
   (kubernetes-validate, strict: unknown fields are errors) for each version in
   K8S_VERSIONS; the Gateway API objects, which it has no schemas for, validate against
   the Gateway API schemas through node (k8s/gateway-api-schema/);
3. k8s/policy.py finds no problem, and finds each one when a rendered object is broken
   on purpose (one mutation per rule, all rules covered).
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from k8s_helpers import load_policy

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "k8s"
# minikube's default Kubernetes (v1.34 as of minikube 1.37) and the newest schemas
# kubernetes-validate 1.37.0 carries.
K8S_VERSIONS = ["1.34.0", "1.37.0"]
KUSTOMIZATIONS = ["base", "overlays/minikube", "overlays/gateway-api"]
# Kinds kubernetes-validate has no schema for, and where they are validated instead.
GATEWAY_API_KINDS = {"Gateway", "HTTPRoute"}  # node + @kubernetes-models/gateway-api
NO_OFFLINE_SCHEMA = {"ClientSettingsPolicy"}  # NGINX Gateway Fabric's CRD: policy.py only

KUBECTL = shutil.which("kubectl")
NODE, NPM = shutil.which("node"), shutil.which("npm")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl (with kustomize) is not installed"
)


policy = load_policy()


@functools.cache
def _rendered(name: str) -> tuple[dict, ...]:
    return tuple(policy.render(K8S / name))


def rendered(name: str) -> list[dict]:
    """The objects of a kustomization, as a fresh copy the test may change."""
    return copy.deepcopy(list(_rendered(name)))


def find(objects: list[dict], kind: str, name: str) -> dict:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise KeyError(f"{kind}/{name} not rendered")


def find_prefix(objects: list[dict], kind: str, prefix: str) -> dict:
    """A generated object (ConfigMaps carry a hash suffix)."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(prefix)]
    assert len(matches) == 1, f"expected one {kind} named {prefix}*"
    return matches[0]


def container(objects: list[dict], deployment: str) -> dict:
    return find(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]


# --------------------------------------------------------------------------- rendering


@needs_kubectl
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_kustomize_renders_the_whole_stack(name):
    objects = rendered(name)
    kinds = {o["kind"] for o in objects}
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceAccount",
    } <= kinds
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert deployments == {"worker", "gateway", "frontend"}
    if name == "overlays/gateway-api":
        assert "Ingress" not in kinds and {"Gateway", "HTTPRoute"} <= kinds
    else:
        assert "Ingress" in kinds


@needs_kubectl
def test_minikube_overlay_uses_the_images_built_in_minikube():
    objects = rendered("overlays/minikube")
    for name in ("worker", "gateway", "frontend"):
        assert container(objects, name)["imagePullPolicy"] == "Never"
    assert find(objects, "Ingress", "simpledl")["spec"]["rules"][0]["host"] == "simpledl.test"


@needs_kubectl
def test_image_tags_follow_the_project_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for name in ("worker", "gateway", "frontend"):
        assert container(rendered("base"), name)["image"] == f"simpledl/{name}:{version}"


# --------------------------------------------------------------------------- schemas


def kubernetes_schema_errors(objects: list[dict], version: str) -> list[str]:
    errors = []
    for obj in objects:
        if obj["kind"] in GATEWAY_API_KINDS | NO_OFFLINE_SCHEMA:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {e.message} at {e.path}")
    return errors


@needs_kubectl
@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_object_validates_against_the_kubernetes_schemas(name, version):
    objects = rendered(name)
    assert kubernetes_schema_errors(objects, version) == []
    # Nothing was skipped silently: every kind is either validated or listed above.
    for obj in objects:
        if obj["kind"] not in GATEWAY_API_KINDS | NO_OFFLINE_SCHEMA:
            continue
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate(obj, version, strict=True)


@needs_kubectl
def test_schema_validation_rejects_broken_objects():
    objects = rendered("overlays/minikube")
    container(objects, "worker")["ports"][0]["containerPort"] = "fifty"
    container(objects, "gateway")["livenessProbe"]["httpGet"]["paht"] = "/healthz"  # typo
    find(objects, "HorizontalPodAutoscaler", "worker")["spec"]["minReplica"] = 2  # typo
    errors = kubernetes_schema_errors(objects, K8S_VERSIONS[-1])
    assert len(errors) == 3, errors


@pytest.fixture(scope="module")
def gateway_api_validator():
    """node + @kubernetes-models/gateway-api, installed from the lock file on first use."""
    if NODE is None or NPM is None:
        pytest.skip("node/npm not installed: Gateway API objects are not schema-validated")
    tool = K8S / "gateway-api-schema"
    if not (tool / "node_modules" / "@kubernetes-models" / "gateway-api").is_dir():
        result = subprocess.run(
            [NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=tool,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"npm ci in {tool} failed:\n{result.stderr}"

    def validate(objects: list[dict]) -> tuple[int, list[dict]]:
        result = subprocess.run(
            [NODE, str(tool / "validate.mjs")],
            input=json.dumps(objects),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]

    return validate


@needs_kubectl
def test_gateway_api_objects_validate_against_the_gateway_api_schemas(gateway_api_validator):
    code, results = gateway_api_validator(rendered("overlays/gateway-api"))
    assert {(r["kind"], r["valid"]) for r in results} == {("Gateway", True), ("HTTPRoute", True)}
    assert code == 0, results


@needs_kubectl
def test_gateway_api_validation_rejects_broken_objects(gateway_api_validator):
    objects = rendered("overlays/gateway-api")
    route = find(objects, "HTTPRoute", "simpledl")
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"  # Ingress spelling
    route["spec"]["rules"][1]["backendRefs"][0]["port"] = 80800
    code, results = gateway_api_validator(objects)
    invalid = {r["kind"]: r["error"] for r in results if not r["valid"]}
    assert code == 1
    assert "type must be equal to one of the allowed values" in invalid["HTTPRoute"]
    assert "port must be <= 65535" in invalid["HTTPRoute"]


# --------------------------------------------------------------------------- policy


@needs_kubectl
@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_policy_holds(name):
    problems = policy.check(rendered(name))
    assert problems == [], "\n".join(map(str, problems))


def _set_env(objects, prefix, key, value):
    find_prefix(objects, "ConfigMap", prefix)["data"][key] = value


def _pod(objects, name):
    return find(objects, "Deployment", name)["spec"]["template"]["spec"]


def _netpol(objects, name):
    return find(objects, "NetworkPolicy", name)["spec"]


# (rule id the checker must report, what the mutation breaks, the mutation)
MUTATIONS = [
    ("workloads", "no frontend", lambda o: o.remove(find(o, "Deployment", "frontend"))),
    ("resources", "no limits", lambda o: container(o, "worker")["resources"].pop("limits")),
    (
        "resources",
        "no memory request",
        lambda o: container(o, "gateway")["resources"]["requests"].pop("memory"),
    ),
    ("probes", "no startup probe", lambda o: container(o, "frontend").pop("startupProbe")),
    ("probes", "no readiness probe", lambda o: container(o, "worker").pop("readinessProbe")),
    (
        "probes",
        "liveness = readiness",
        lambda o: container(o, "gateway").update(
            livenessProbe=copy.deepcopy(container(o, "gateway")["readinessProbe"])
        ),
    ),
    (
        "probes",
        "probe on an undeclared port",
        lambda o: container(o, "worker")["readinessProbe"]["grpc"].update(port=50052),
    ),
    (
        "security-context",
        "runAsNonRoot false",
        lambda o: _pod(o, "worker")["securityContext"].update(runAsNonRoot=False),
    ),
    (
        "security-context",
        "UID 1000",
        lambda o: _pod(o, "gateway")["securityContext"].update(runAsUser=1000),
    ),
    (
        "security-context",
        "UID 10000 (not above 10000)",
        lambda o: container(o, "frontend")["securityContext"].update(runAsUser=10000),
    ),
    (
        "security-context",
        "writable root",
        lambda o: container(o, "worker")["securityContext"].update(readOnlyRootFilesystem=False),
    ),
    (
        "security-context",
        "privilege escalation",
        lambda o: container(o, "gateway")["securityContext"].pop("allowPrivilegeEscalation"),
    ),
    (
        "security-context",
        "capabilities not dropped",
        lambda o: container(o, "frontend")["securityContext"]["capabilities"].update(drop=[]),
    ),
    (
        "security-context",
        "capability added",
        lambda o: container(o, "frontend")["securityContext"]["capabilities"].update(
            add=["NET_BIND_SERVICE"]
        ),
    ),
    (
        "security-context",
        "seccomp unconfined",
        lambda o: _pod(o, "worker")["securityContext"].update(
            seccompProfile={"type": "Unconfined"}
        ),
    ),
    ("security-context", "host network", lambda o: _pod(o, "gateway").update(hostNetwork=True)),
    ("tmp-volume", "no /tmp", lambda o: container(o, "worker").pop("volumeMounts")),
    (
        "tmp-volume",
        "unbounded /tmp",
        lambda o: _pod(o, "gateway")["volumes"][0].update(emptyDir={}),
    ),
    (
        "service-account-token",
        "token mounted",
        lambda o: _pod(o, "worker").update(automountServiceAccountToken=True),
    ),
    (
        "network-policy",
        "worker policy deleted",
        lambda o: o.remove(find(o, "NetworkPolicy", "worker")),
    ),
    (
        "network-policy",
        "frontend may call the worker",
        lambda o: _netpol(o, "worker")["ingress"][0]["from"].append(
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "frontend"}}}
        ),
    ),
    (
        "network-policy",
        "gateway open to every namespace",
        lambda o: _netpol(o, "gateway")["ingress"][0].update({"from": [{"namespaceSelector": {}}]}),
    ),
    (
        "network-policy",
        "frontend open to everyone",
        lambda o: _netpol(o, "frontend")["ingress"][0].pop("from"),
    ),
    (
        "network-policy",
        "no default deny",
        lambda o: o.remove(find(o, "NetworkPolicy", "default-deny-ingress")),
    ),
    ("pdb", "no PDB", lambda o: o.remove(find(o, "PodDisruptionBudget", "gateway"))),
    (
        "pdb",
        "PDB blocks every drain",
        lambda o: find(o, "PodDisruptionBudget", "worker")["spec"].update(minAvailable=2),
    ),
    ("hpa", "no HPA", lambda o: o.remove(find(o, "HorizontalPodAutoscaler", "worker"))),
    (
        "hpa",
        "minReplicas 1",
        lambda o: find(o, "HorizontalPodAutoscaler", "worker")["spec"].update(minReplicas=1),
    ),
    (
        "hpa",
        "replicas on an HPA target",
        lambda o: find(o, "Deployment", "worker")["spec"].update(replicas=2),
    ),
    (
        "hpa",
        "scales on memory",
        lambda o: find(o, "HorizontalPodAutoscaler", "worker")["spec"]["metrics"][0][
            "resource"
        ].update(name="memory"),
    ),
    ("anti-affinity", "no anti-affinity", lambda o: _pod(o, "frontend").pop("affinity")),
    (
        "image-tag",
        "latest",
        lambda o: container(o, "gateway").update(image="simpledl/gateway:latest"),
    ),
    ("image-tag", "no tag", lambda o: container(o, "worker").update(image="simpledl/worker")),
    (
        "config-ports",
        "setting and container port disagree",
        lambda o: _set_env(o, "worker-config", "WORKER_PORT", "50052"),
    ),
    (
        "config-ports",
        "listens on loopback only",
        lambda o: _set_env(o, "gateway-config", "GATEWAY_HOST", "127.0.0.1"),
    ),
    (
        "config-ports",
        "Service targets a missing port",
        lambda o: find(o, "Service", "frontend")["spec"]["ports"][0].update(targetPort=80),
    ),
    (
        "grpc-load-balancing",
        "ClusterIP worker Service",
        lambda o: find(o, "Service", "worker-headless")["spec"].pop("clusterIP"),
    ),
    (
        "grpc-load-balancing",
        "target without dns:///",
        lambda o: _set_env(o, "gateway-config", "GATEWAY_WORKER_TARGET", "worker-headless:50051"),
    ),
    (
        "grpc-load-balancing",
        "no max connection age",
        lambda o: find_prefix(o, "ConfigMap", "worker-config")["data"].pop(
            "WORKER_MAX_CONNECTION_AGE_SECONDS"
        ),
    ),
    (
        "grpc-load-balancing",
        "pick_first",
        lambda o: _set_env(o, "gateway-config", "GATEWAY_WORKER_LB_POLICY", "pick_first"),
    ),
    (
        "keepalive",
        "gateway pings faster than the worker allows",
        lambda o: _set_env(o, "gateway-config", "GATEWAY_KEEPALIVE_TIME_SECONDS", "5"),
    ),
    (
        "keepalive",
        "worker's minimum left to the code's default",
        lambda o: find_prefix(o, "ConfigMap", "worker-config")["data"].pop(
            "WORKER_KEEPALIVE_MIN_PING_INTERVAL_SECONDS"
        ),
    ),
    (
        "routing",
        "no /api route",
        lambda o: find(o, "Ingress", "simpledl")["spec"]["rules"][0]["http"]["paths"].pop(0),
    ),
    (
        "body-size",
        "ingress-nginx default 1 MiB",
        lambda o: find(o, "Ingress", "simpledl")["metadata"].pop("annotations"),
    ),
    (
        "body-size",
        "gateway limit raised alone",
        lambda o: _set_env(o, "gateway-config", "GATEWAY_MAX_BODY_BYTES", "8388608"),
    ),
    (
        "graceful-shutdown",
        "grace period shorter than the drain",
        lambda o: _pod(o, "worker").update(terminationGracePeriodSeconds=12),
    ),
    (
        "pod-security",
        "namespace not restricted",
        lambda o: find(o, "Namespace", "simpledl")["metadata"]["labels"].pop(
            "pod-security.kubernetes.io/enforce"
        ),
    ),
]

GATEWAY_API_MUTATIONS = [
    (
        "body-size",
        "no ClientSettingsPolicy",
        lambda o: o.remove(find(o, "ClientSettingsPolicy", "simpledl-body-size")),
    ),
    (
        "body-size",
        "1 MiB policy",
        lambda o: find(o, "ClientSettingsPolicy", "simpledl-body-size")["spec"]["body"].update(
            maxSize="1m"
        ),
    ),
    (
        "routing",
        "backend port that the Service lacks",
        lambda o: find(o, "HTTPRoute", "simpledl")["spec"]["rules"][0]["backendRefs"][0].update(
            port=80
        ),
    ),
    (
        "network-policy",
        "proxy peer without namespace",
        lambda o: _netpol(o, "gateway")["ingress"][0]["from"][0].pop("namespaceSelector"),
    ),
]


def _ids(cases):
    return [f"{rule}: {what}" for rule, what, _ in cases]


@needs_kubectl
@pytest.mark.parametrize(("rule", "what", "mutate"), MUTATIONS, ids=_ids(MUTATIONS))
def test_policy_reports_a_broken_rule(rule, what, mutate):
    objects = rendered("overlays/minikube")
    mutate(objects)
    problems = policy.check(objects)
    assert rule in {p.rule for p in problems}, f"{what} went unnoticed: {problems}"


@needs_kubectl
@pytest.mark.parametrize(
    ("rule", "what", "mutate"), GATEWAY_API_MUTATIONS, ids=_ids(GATEWAY_API_MUTATIONS)
)
def test_policy_reports_a_broken_rule_in_the_gateway_api_overlay(rule, what, mutate):
    objects = rendered("overlays/gateway-api")
    mutate(objects)
    problems = policy.check(objects)
    assert rule in {p.rule for p in problems}, f"{what} went unnoticed: {problems}"


def test_every_policy_rule_has_a_failing_case():
    """A rule no mutation breaks is a rule nobody knows works."""
    source = (K8S / "policy.py").read_text()
    emitted = set(__import__("re").findall(r'Problem\(\s*"([a-z-]+)"', source))
    assert emitted == {rule for rule, _, _ in MUTATIONS + GATEWAY_API_MUTATIONS}


def test_nginx_sizes_parse_like_nginx():
    assert policy.parse_size("4m") == 4 * 1024 * 1024
    assert policy.parse_size("512k") == 512 * 1024
    assert policy.parse_size("1G") == 1024**3
    assert policy.parse_size(4096) == 4096
    with pytest.raises(ValueError, match="not an nginx size"):
        policy.parse_size("4 MB")


@needs_kubectl
def test_policy_command_line_exit_status():
    """`python k8s/policy.py -` reads rendered YAML and exits 1 naming each problem."""
    objects = rendered("overlays/minikube")
    good = yaml.safe_dump_all(objects)
    container(objects, "worker")["image"] = "simpledl/worker:latest"
    bad = yaml.safe_dump_all(objects)
    run = functools.partial(
        subprocess.run,
        [sys.executable, str(K8S / "policy.py"), "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    ok = run(input=good)
    assert ok.returncode == 0 and "0 problems" in ok.stdout, ok.stdout + ok.stderr
    broken = run(input=bad)
    assert broken.returncode == 1
    assert "image-tag" in broken.stdout and "simpledl/worker:latest" in broken.stdout


def test_k8s_python_is_ruff_clean():
    """k8s/ is outside the paths tests/test_lint.py covers."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(K8S)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_script_runs_the_documented_steps_in_order():
    """k8s/deploy-minikube.sh (make deploy-minikube), dry run: the commands it would run."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    result = subprocess.run(
        ["bash", str(K8S / "deploy-minikube.sh")],
        env={"PATH": "/usr/bin:/bin", "DRY_RUN": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    commands = [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]
    expected = [
        "minikube -p minikube start --cni=calico --cpus=4 --memory=4096",
        "minikube -p minikube addons enable ingress",
        "minikube -p minikube addons enable metrics-server",
        *(
            f"minikube -p minikube image build -t simpledl/{image}:{version} "
            f"-f services/docker/{image}.Dockerfile ."
            for image in ("worker", "gateway", "frontend")
        ),
    ]
    assert commands[: len(expected)] == expected
    assert "kubectl --context minikube apply -k k8s/overlays/minikube" in commands
    apply = commands.index("kubectl --context minikube apply -k k8s/overlays/minikube")
    assert "ingress-nginx wait" in commands[apply - 1]  # the admission webhook must be up
    rollouts = [c for c in commands[apply:] if "rollout status" in c]
    assert len(rollouts) == 3
    for command in commands:  # every file the commands name exists
        for word in command.split():
            if word.startswith(("services/", "k8s/")):
                assert (REPO / word).exists(), word


CHECKOV = K8S / ".checkov-venv" / "bin" / "checkov"
needs_checkov = pytest.mark.skipif(
    not CHECKOV.exists(),
    reason="optional checkov scan not set up: run k8s/checkov.sh once (own venv, ~290 MB)",
)


@needs_kubectl
@needs_checkov
def test_checkov_finds_nothing_beyond_the_documented_skips():
    result = subprocess.run(
        ["bash", str(K8S / "checkov.sh")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.stdout.count("Failed checks: 0") == 4


@needs_kubectl
@needs_checkov
def test_checkov_reports_a_privileged_container(tmp_path):
    objects = rendered("overlays/minikube")
    container(objects, "worker")["securityContext"]["privileged"] = True
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    result = subprocess.run(
        [
            str(CHECKOV),
            "--file",
            str(path),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--compact",
            "--quiet",
            "--skip-check",
            "CKV_K8S_15,CKV_K8S_43",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0
    assert "CKV_K8S_16" in result.stdout  # "Container should not be privileged"
