#!/usr/bin/env bash
# Deploy the simpledl stack to minikube (what `make deploy-minikube` runs).
# docs/deploy.md explains every step; this script only runs them in order:
#
#   1. start minikube with Calico (a CNI that enforces NetworkPolicy), unless it runs
#   2. enable the ingress (ingress-nginx) and metrics-server (for the HPA) addons
#   3. build the three images inside minikube, tagged with the project version
#   4. wait for the ingress controller, then kubectl apply -k k8s/overlays/minikube
#   5. wait for the rollouts and print how to open the page
#
# Settings (environment variables):
#   MINIKUBE_PROFILE     minikube profile to use (default: minikube)
#   MINIKUBE_START_ARGS  extra arguments for a fresh `minikube start`
#                        (default: --cpus=4 --memory=4096)
#   DRY_RUN=1            print the commands instead of running them
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PROFILE="${MINIKUBE_PROFILE:-minikube}"
START_ARGS="${MINIKUBE_START_ARGS:---cpus=4 --memory=4096}"
OVERLAY="k8s/overlays/minikube"
NAMESPACE="simpledl"
HOST="simpledl.test"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)"

run() {
  echo "+ $*"
  if [ -z "${DRY_RUN:-}" ]; then "$@"; fi
}

need() {
  if [ -z "${DRY_RUN:-}" ] && ! command -v "$1" >/dev/null 2>&1; then
    echo "error: '$1' is not installed. $2" >&2
    exit 1
  fi
}

need minikube "Install minikube: https://minikube.sigs.k8s.io/docs/start/"
need kubectl "Install kubectl: https://kubernetes.io/docs/tasks/tools/ (or use 'minikube kubectl --')"
if [ -z "$VERSION" ]; then
  echo "error: no version in pyproject.toml" >&2
  exit 1
fi

echo "== 1/5 minikube (profile $PROFILE)"
if [ -z "${DRY_RUN:-}" ] && minikube -p "$PROFILE" status >/dev/null 2>&1; then
  echo "minikube is running; keeping it (NetworkPolicies need Calico or another enforcing CNI)"
else
  # shellcheck disable=SC2086  # START_ARGS is a list of arguments
  run minikube -p "$PROFILE" start --cni=calico $START_ARGS
fi

echo "== 2/5 addons"
run minikube -p "$PROFILE" addons enable ingress
run minikube -p "$PROFILE" addons enable metrics-server

echo "== 3/5 images (tag $VERSION), built inside minikube"
for image in worker gateway frontend; do
  run minikube -p "$PROFILE" image build -t "simpledl/$image:$VERSION" \
    -f "services/docker/$image.Dockerfile" .
done

echo "== 4/5 apply $OVERLAY"
run kubectl --context "$PROFILE" -n ingress-nginx wait --for=condition=Ready pod \
  -l app.kubernetes.io/component=controller --timeout=300s
run kubectl --context "$PROFILE" apply -k "$OVERLAY"

echo "== 5/5 rollout"
for deployment in worker gateway frontend; do
  run kubectl --context "$PROFILE" -n "$NAMESPACE" rollout status "deployment/$deployment" \
    --timeout=300s
done
run kubectl --context "$PROFILE" -n "$NAMESPACE" get pods,services,ingress,hpa

if [ -n "${DRY_RUN:-}" ]; then
  echo "(dry run: nothing was run)"
  exit 0
fi
ip="$(minikube -p "$PROFILE" ip)"
cat <<EOF

The stack is up. Open http://$HOST/ after mapping the host name to minikube:
  echo "$ip $HOST" | sudo tee -a /etc/hosts
or try it without editing /etc/hosts:
  curl --resolve $HOST:80:$ip http://$HOST/api/models
With the docker driver on macOS or Windows, run 'minikube tunnel' in another terminal
and map $HOST to 127.0.0.1 instead (docs/deploy.md, "Open the page").
EOF
