# The inference worker image: gRPC on 50051 (Inference + grpc.health.v1), Prometheus
# metrics on 9464, the models in /app/models. Build from the repository root:
#
#   docker build -f services/docker/worker.Dockerfile -t simpledl/worker:0.1.0 .
#   minikube image build -f services/docker/worker.Dockerfile -t simpledl/worker:0.1.0 .
#   make images                     (all four images: Docker if a daemon answers, else buildah)
#
# Base: the official python:3.11 slim image on Debian 12 (bookworm): the Python minor
# version the project is tested with, glibc (the same manylinux wheels of NumPy and grpcio
# the tests run on), and a base that scripts/stand_in_base_images.py can make locally (a
# Debian bootstrap with Debian's Python 3.11) where no container registry answers but
# Debian's archive does; an Alpine base could not be made there.
#
# Two stages. The build stage installs the pinned packages into a virtual environment and
# assembles /app: the worker's code, dlcore and models/, made world-readable (a checkout
# with umask 077 has files only root could read) and byte-compiled. The runtime stage
# copies just those two directories: no pip (nothing installs at run time), no build
# tools, no gateway or page.
# It runs as UID 10001 and writes nothing outside /tmp (readOnlyRootFilesystem).

FROM python:3.11.14-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
COPY pyproject.toml services/docker/requirements.py ./
RUN python requirements.py worker pyproject.toml > requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

WORKDIR /app
COPY dlcore ./dlcore
# dlcore/data/manifest.json is a link to it, as in a checkout.
COPY datasets/manifest.json ./datasets/manifest.json
COPY services/__init__.py services/imaging.py services/logs.py ./services/
COPY services/proto ./services/proto
COPY services/worker ./services/worker
COPY services/docker/healthcheck.py ./healthcheck.py
COPY models ./models
RUN chmod -R a+rX,go-w /app /opt/venv \
    && /opt/venv/bin/python -m compileall -q /app


FROM python:3.11.14-slim-bookworm AS runtime

RUN groupadd --system --gid 10001 simpledl \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin simpledl

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app

# Settings the container needs (k8s/base/worker.env sets the same values explicitly).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WORKER_HOST=0.0.0.0 \
    WORKER_PORT=50051 \
    WORKER_METRICS_PORT=9464 \
    WORKER_MODELS_DIR=/app/models

USER 10001:10001
EXPOSE 50051 9464

# For docker run / Compose; Kubernetes uses the probes in k8s/base/worker.yaml instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "grpc", "127.0.0.1:50051"]

STOPSIGNAL SIGTERM
CMD ["python", "-m", "services.worker"]
