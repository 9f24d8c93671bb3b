"""The Kubernetes manifests render, validate against the API schemas, and keep the policy.

No cluster here, so four static checks of what `kubectl apply -k` would send:

1. `kubectl kustomize` renders the base and both overlays;
2. every rendered object validates against the Kubernetes OpenAPI schemas
   (kubernetes-validate, strict: unknown fields are errors) for each version in
   K8S_VERSIONS; the Gateway API objects, which it has no schemas for, validate against
   the Gateway API schemas through node (k8s/gateway-api-schema/);
3. the policy package (k8s/policy/) finds no problem, and finds each one when a rendered
   object is broken on purpose (one mutation per rule, all rules covered);
4. checkov (k8s/checkov.sh) finds nothing beyond its documented skips, and reports each
   generic rule left to it when a rendered object breaks that rule on purpose.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import tomllib

import kubernetes_validate
import pytest
import yaml
from k8s_helpers import (
    K8S,
    REPO,
    container,
    find,
    find_prefix,
    needs_kubectl,
    policy,
    rendered,
)

# minikube's default Kubernetes (v1.34 as of minikube 1.37) and the newest schemas
# kubernetes-validate 1.37.0 carries.
K8S_VERSIONS = ["1.34.0", "1.37.0"]
KUSTOMIZATIONS = ["base", "overlays/minikube", "overlays/gateway-api"]
# Kinds kubernetes-validate has no schema for, and where they are validated instead.
GATEWAY_API_KINDS = {"Gateway", "HTTPRoute"}  # node + @kubernetes-models/gateway-api
NO_OFFLINE_SCHEMA = {"ClientSettingsPolicy"}  # NGINX Gateway Fabric's CRD: the policy only

NODE, NPM = shutil.which("node"), shutil.which("npm")


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
    ("probes", "no startup probe", lambda o: container(o, "frontend").pop("startupProbe")),
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
        "runAsNonRoot unset",
        lambda o: _pod(o, "gateway")["securityContext"].pop("runAsNonRoot"),
    ),
    (
        "security-context",
        "hostPath volume",
        lambda o: _pod(o, "frontend")["volumes"].append(
            {"name": "host", "hostPath": {"path": "/var/log"}}
        ),
    ),
    ("tmp-volume", "no /tmp", lambda o: container(o, "worker").pop("volumeMounts")),
    (
        "tmp-volume",
        "unbounded /tmp",
        lambda o: _pod(o, "gateway")["volumes"][0].update(emptyDir={}),
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
        "gateway re-resolves less often than connections age",
        lambda o: find_prefix(o, "ConfigMap", "gateway-config")["data"].pop(
            "GATEWAY_WORKER_DNS_MIN_INTERVAL_SECONDS"
        ),
    ),
    (
        "grpc-load-balancing",
        "pick_first",
        lambda o: _set_env(o, "gateway-config", "GATEWAY_WORKER_LB_POLICY", "pick_first"),
    ),
    (
        "worker-target",
        "gateway dials the worker's metrics port",
        lambda o: _set_env(
            o, "gateway-config", "GATEWAY_WORKER_TARGET", "dns:///worker-headless:9464"
        ),
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


# The settings of the two services, as the code's defaults would give them.
WORKER = {
    "WORKER_PORT": "50051",
    "WORKER_METRICS_PORT": "9464",
    "WORKER_KEEPALIVE_MIN_PING_INTERVAL_SECONDS": "10",
}
GATEWAY = {
    "GATEWAY_PORT": "8000",
    "GATEWAY_WORKER_TARGET": "127.0.0.1:50051",
    "GATEWAY_KEEPALIVE_TIME_SECONDS": "30",
}

# (rule, what, worker settings, gateway settings): broken without any manifest.
SETTINGS_CASES = [
    (
        "keepalive",
        "gateway pings too often",
        WORKER,
        {**GATEWAY, "GATEWAY_KEEPALIVE_TIME_SECONDS": "5"},
    ),
    (
        "keepalive",
        "minimum not known",
        {k: v for k, v in WORKER.items() if "KEEPALIVE" not in k},
        GATEWAY,
    ),
    (
        "worker-target",
        "another port",
        WORKER,
        {**GATEWAY, "GATEWAY_WORKER_TARGET": "127.0.0.1:50052"},
    ),
    ("worker-target", "no port", WORKER, {**GATEWAY, "GATEWAY_WORKER_TARGET": "dns:///worker"}),
]


def test_settings_rules_hold_for_agreeing_settings():
    for target in ("127.0.0.1:50051", "dns:///127.0.0.1:50051", "localhost:50051", "[::1]:50051"):
        gateway = {**GATEWAY, "GATEWAY_WORKER_TARGET": target}
        assert list(policy.settings_problems(WORKER, gateway)) == [], target


@pytest.mark.parametrize(
    ("rule", "what", "worker", "gateway"),
    SETTINGS_CASES,
    ids=[f"{c[0]}: {c[1]}" for c in SETTINGS_CASES],
)
def test_settings_rules_report_disagreeing_settings(rule, what, worker, gateway):
    problems = list(policy.settings_problems(worker, gateway, "the launcher"))
    assert [p.rule for p in problems] == [rule], f"{what}: {problems}"
    assert problems[0].where == "the launcher"


@needs_kubectl
def test_an_environment_outside_the_manifests_is_checked_against_them():
    """What tests/test_deploy_consistency.py runs on the settings' defaults and the launcher."""
    objects = rendered("overlays/minikube")
    assert policy.environment_problems(objects, WORKER, GATEWAY, "defaults") == []
    moved = {**WORKER, "WORKER_METRICS_PORT": "9465"}
    problems = policy.environment_problems(objects, moved, GATEWAY, "defaults")
    assert [(p.rule, p.where) for p in problems] == [("config-ports", "defaults")]
    assert "WORKER_METRICS_PORT=9465, but the manifests set 9464" in problems[0].message
    slow = {**GATEWAY, "GATEWAY_KEEPALIVE_TIME_SECONDS": "1"}
    assert [p.rule for p in policy.environment_problems(objects, WORKER, slow, "x")] == [
        "keepalive"
    ]


def _rule_ids_in_the_policy() -> set[str]:
    ids = set()
    for path in (K8S / "policy").glob("*.py"):
        ids |= set(re.findall(r'Problem\(\s*"([a-z-]+)"', path.read_text()))
    return ids


def test_every_policy_rule_has_a_failing_case():
    """A rule no mutation breaks is a rule nobody knows works."""
    broken = {rule for rule, _, _ in MUTATIONS + GATEWAY_API_MUTATIONS}
    broken |= {case[0] for case in SETTINGS_CASES}
    assert _rule_ids_in_the_policy() == broken


def test_nginx_sizes_parse_like_nginx():
    assert policy.parse_size("4m") == 4 * 1024 * 1024
    assert policy.parse_size("512k") == 512 * 1024
    assert policy.parse_size("1G") == 1024**3
    assert policy.parse_size(4096) == 4096
    with pytest.raises(ValueError, match="not an nginx size"):
        policy.parse_size("4 MB")


@needs_kubectl
def test_policy_command_line_exit_status():
    """`python -m k8s.policy -` reads rendered YAML and exits 1 naming each problem."""
    objects = rendered("overlays/minikube")
    good = yaml.safe_dump_all(objects)
    _pod(objects, "worker")["securityContext"]["runAsNonRoot"] = False
    bad = yaml.safe_dump_all(objects)

    def run(text: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "k8s.policy", "-"],
            cwd=REPO,
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = run(good)
    assert ok.returncode == 0 and "0 problems" in ok.stdout, ok.stdout + ok.stderr
    broken = run(bad)
    assert broken.returncode == 1
    assert "security-context" in broken.stdout and "runAsNonRoot" in broken.stdout


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


# --------------------------------------------------------------------------- checkov

CHECKOV = K8S / ".checkov-venv" / "bin" / "checkov"
needs_checkov = pytest.mark.skipif(
    not CHECKOV.exists(),
    reason="checkov is not installed: make test installs it (k8s/checkov.sh --install, "
    "its own environment, about 290 MB)",
)


def checkov(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(K8S / "checkov.sh"), *args], capture_output=True, text=True, timeout=900
    )


@needs_kubectl
@needs_checkov
def test_checkov_finds_nothing_beyond_the_documented_skips():
    result = checkov()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for framework in ("kubernetes", "dockerfile"):  # both scanned, and something passed
        report = re.search(
            rf"{framework} scan results:\s+Passed checks: (\d+), Failed", result.stdout
        )
        assert report and int(report[1]) > 0, result.stdout


# The generic rules left to checkov: (its check id, what breaks it, the mutation). The
# policy had each of these until checkov ran in `make test`; docs/deploy.md has the map.
CHECKOV_CASES = [
    ("CKV_K8S_8", "no liveness probe", lambda o: container(o, "frontend").pop("livenessProbe")),
    ("CKV_K8S_9", "no readiness probe", lambda o: container(o, "worker").pop("readinessProbe")),
    (
        "CKV_K8S_10",
        "no CPU request",
        lambda o: container(o, "gateway")["resources"]["requests"].pop("cpu"),
    ),
    (
        "CKV_K8S_11",
        "no CPU limit",
        lambda o: container(o, "worker")["resources"]["limits"].pop("cpu"),
    ),
    (
        "CKV_K8S_12",
        "no memory request",
        lambda o: container(o, "gateway")["resources"]["requests"].pop("memory"),
    ),
    (
        "CKV_K8S_13",
        "no memory limit",
        lambda o: container(o, "frontend")["resources"]["limits"].pop("memory"),
    ),
    (
        "CKV_K8S_14",
        "latest",
        lambda o: container(o, "gateway").update(image="simpledl/gateway:latest"),
    ),
    ("CKV_K8S_14", "no tag", lambda o: container(o, "worker").update(image="simpledl/worker")),
    (
        "CKV_K8S_16",
        "privileged",
        lambda o: container(o, "worker")["securityContext"].update(privileged=True),
    ),
    ("CKV_K8S_17", "host PID", lambda o: _pod(o, "gateway").update(hostPID=True)),
    ("CKV_K8S_18", "host IPC", lambda o: _pod(o, "frontend").update(hostIPC=True)),
    ("CKV_K8S_19", "host network", lambda o: _pod(o, "gateway").update(hostNetwork=True)),
    (
        "CKV_K8S_20",
        "privilege escalation",
        lambda o: container(o, "gateway")["securityContext"].pop("allowPrivilegeEscalation"),
    ),
    (
        "CKV_K8S_22",
        "writable root",
        lambda o: container(o, "worker")["securityContext"].update(readOnlyRootFilesystem=False),
    ),
    (
        "CKV_K8S_25",
        "capability added",
        lambda o: container(o, "frontend")["securityContext"]["capabilities"].update(
            add=["NET_BIND_SERVICE"]
        ),
    ),
    (
        "CKV_K8S_37",
        "capabilities not dropped",
        lambda o: container(o, "frontend")["securityContext"]["capabilities"].update(drop=[]),
    ),
    (
        "CKV_K8S_31",
        "seccomp unconfined",
        lambda o: _pod(o, "worker")["securityContext"].update(
            seccompProfile={"type": "Unconfined"}
        ),
    ),
    (
        "CKV_K8S_38",
        "token mounted",
        lambda o: _pod(o, "worker").update(automountServiceAccountToken=True),
    ),
    (
        "CKV_K8S_40",
        "UID 1000",
        lambda o: _pod(o, "gateway")["securityContext"].update(runAsUser=1000),
    ),
]


@pytest.fixture(scope="module")
def checkov_on_broken_copies(tmp_path_factory) -> dict[str, set[str]]:
    """One checkov scan of the minikube overlay whose Deployments are there once unchanged
    (renamed ``<name>-intact``) and once per case broken as CHECKOV_CASES says
    (``<name>-case<i>``): the failed check ids by copy."""
    documents = [o for o in rendered("overlays/minikube") if o["kind"] != "Deployment"]
    for index, case in enumerate([None, *CHECKOV_CASES]):
        objects = rendered("overlays/minikube")
        if case is not None:
            case[2](objects)
        for deployment in (o for o in objects if o["kind"] == "Deployment"):
            label = "intact" if case is None else f"case{index - 1}"
            deployment["metadata"]["name"] += f"-{label}"
            documents.append(deployment)
    path = tmp_path_factory.mktemp("checkov") / "broken.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    result = checkov(str(path), "--output", "json")
    assert result.stdout.strip(), result.stderr[-2000:]
    failed: dict[str, set[str]] = {}
    for check in json.loads(result.stdout)["results"]["failed_checks"]:
        # Deployment.simpledl.worker-case3, or Pod.simpledl.worker-case3.<labels> (graph checks)
        label = re.search(r"-(intact|case\d+)(?:\.|$)", check["resource"])
        failed.setdefault(label[1] if label else check["resource"], set()).add(check["check_id"])
    return failed


@needs_kubectl
@needs_checkov
def test_checkov_passes_the_intact_deployments(checkov_on_broken_copies):
    cases = {f"case{i}" for i in range(len(CHECKOV_CASES))}
    assert set(checkov_on_broken_copies) <= cases, checkov_on_broken_copies


@needs_kubectl
@needs_checkov
@pytest.mark.parametrize(
    ("index", "check_id", "what"),
    [(i, check_id, what) for i, (check_id, what, _) in enumerate(CHECKOV_CASES)],
    ids=[f"{check_id}: {what}" for check_id, what, _ in CHECKOV_CASES],
)
def test_checkov_reports_a_broken_generic_rule(checkov_on_broken_copies, index, check_id, what):
    failed = checkov_on_broken_copies.get(f"case{index}", set())
    assert check_id in failed, f"{what} went unnoticed by checkov (it reported {failed})"
