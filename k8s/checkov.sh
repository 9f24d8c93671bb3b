#!/usr/bin/env bash
# checkov over the manifests and Dockerfiles: the generic checks (resources, probes
# present, image tags, service account token, security context) that k8s/policy leaves
# to it. `make test` runs it (through tests/test_k8s.py); it lives in its own virtual
# environment because its ~290 MB of dependencies are not the project's.
#
#   k8s/checkov.sh                   # scan the base, both overlays and the Dockerfiles at once
#   k8s/checkov.sh --install         # only create or update k8s/.checkov-venv (git-ignored)
#   k8s/checkov.sh FILE [ARGS...]    # scan one rendered manifest file, e.g. --output json
#
# The environment is created on first use and re-created when CHECKOV_VERSION changes.
# Every scan runs with --skip-download (no calls home). Exit status non-zero if checkov
# finds anything beyond the skipped checks below.
#
# Skipped checks, each because it clashes with images built locally for minikube:
#   CKV_K8S_15  "Image Pull Policy should be Always": the minikube images exist only
#               inside the cluster (minikube image build); Always would make every pod
#               start fail on a pull from Docker Hub. The base uses IfNotPresent with
#               immutable version tags (never latest: CKV_K8S_14).
#   CKV_K8S_43  "Image should use digest": a locally built image has no registry digest
#               to pin. An overlay that pushes to a registry should pin digests
#               (kustomize `images: - digest:`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="k8s/.checkov-venv"
CHECKOV_VERSION="3.3.30"
SKIP="CKV_K8S_15,CKV_K8S_43"
PYTHON="${PYTHON:-python3}"

installed_version() {
  "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' \
    2>/dev/null || true
}

if [ ! -x "$VENV/bin/checkov" ] || [ "$(installed_version)" != "$CHECKOV_VERSION" ]; then
  echo "creating $VENV with checkov $CHECKOV_VERSION (about 290 MB, once)" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "checkov==$CHECKOV_VERSION" >&2
fi
if [ "${1:-}" = "--install" ]; then
  exit 0
fi

scan() {  # ARGS...: one checkov run (its start-up is most of the time) with the flags above
  "$VENV/bin/checkov" --skip-download --compact --quiet --skip-check "$SKIP" "$@"
}

if [ $# -gt 0 ]; then
  scan --file "$1" --framework kubernetes "${@:2}"
  exit
fi

rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
files=()
for kustomization in k8s/base k8s/overlays/minikube k8s/overlays/gateway-api; do
  file="$rendered/$(echo "$kustomization" | tr / -).yaml"
  kubectl kustomize "$kustomization" > "$file"
  files+=(--file "$file")
done
for dockerfile in services/docker/*.Dockerfile; do
  files+=(--file "$dockerfile")
done
echo "== checkov: k8s/base, k8s/overlays/{minikube,gateway-api}, services/docker/*.Dockerfile"
scan "${files[@]}" --framework kubernetes dockerfile
