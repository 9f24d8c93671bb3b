#!/usr/bin/env bash
# Optional second opinion on the manifests and Dockerfiles: checkov (about 290 MB of
# dependencies), in its own virtual environment, never in the project's.
#
#   k8s/checkov.sh        # creates k8s/.checkov-venv on first use (git-ignored)
#
# Renders the base and both overlays and scans them (framework kubernetes), then the
# Dockerfiles (framework dockerfile), with --skip-download (no calls home). Exit status
# non-zero if checkov finds anything beyond the skipped checks below.
# tests/test_k8s.py runs this when the environment exists, and skips, saying so, when not.
#
# Skipped checks, each because it clashes with images built locally for minikube:
#   CKV_K8S_15  "Image Pull Policy should be Always": the minikube images exist only
#               inside the cluster (minikube image build); Always would make every pod
#               start fail on a pull from Docker Hub. The base uses IfNotPresent with
#               immutable version tags (never latest; k8s/policy.py enforces it).
#   CKV_K8S_43  "Image should use digest": a locally built image has no registry digest
#               to pin. An overlay that pushes to a registry should pin digests
#               (kustomize `images: - digest:`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="k8s/.checkov-venv"
CHECKOV_VERSION="3.3.30"
SKIP="CKV_K8S_15,CKV_K8S_43"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/checkov" ]; then
  echo "creating $VENV with checkov $CHECKOV_VERSION (about 290 MB, once)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
status=0
for kustomization in k8s/base k8s/overlays/minikube k8s/overlays/gateway-api; do
  file="$rendered/$(echo "$kustomization" | tr / -).yaml"
  kubectl kustomize "$kustomization" > "$file"
  echo "== checkov: $kustomization"
  "$VENV/bin/checkov" --file "$file" --framework kubernetes --skip-download --compact \
    --quiet --skip-check "$SKIP" || status=1
done
echo "== checkov: services/docker/*.Dockerfile"
"$VENV/bin/checkov" --directory services/docker --framework dockerfile --skip-download \
  --compact --quiet || status=1
exit $status
