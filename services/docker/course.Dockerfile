# The course image: JupyterLab with dlcore, the solved notebooks and the exercise edition
# made from them, the trained models and the course's data sets (cats, mnist-small), for a
# learner on one machine or a class on JupyterHub (docs/deploy.md, "The course image"). Build from the repository root, after
# `make data` (the data sets are taken from datasets/, verified, and baked in):
#
#   docker build -f services/docker/course.Dockerfile -t simpledl/course:0.1.0 .
#   make images                     (all four images: Docker if a daemon answers, else buildah)
#   docker run --rm -p 8888:8888 simpledl/course:0.1.0      (open the URL it prints)
#
# Base: the same python:3.11 slim image on Debian 12 as the worker and gateway: the Python
# minor version the notebooks are stored with, glibc for the manylinux wheels, and a base
# scripts/stand_in_base_images.py can make where no registry answers.
#
# Layout, like a checkout so the notebooks' relative paths hold: /opt/course holds
# pyproject.toml, dlcore/, services/ (notebook 9 starts the stack and the drawing pad),
# models/, datasets/, the pristine notebooks/ and exercises/, all read-only and on
# PYTHONPATH. The exercise edition is generated here by nbgrader (make exercises does the
# same in a checkout), in the build stage only: nbgrader never reaches the image. The
# learner works in $HOME (/home/learner, UID 10001), the one writable directory:
# course-start copies both editions there on first start. JupyterHub's singleuser server
# needs the `jupyterhub` package at the hub's version: JUPYTERHUB_VERSION (build argument).

FROM python:3.11.14-slim-bookworm AS build

ARG JUPYTERHUB_VERSION=5.4.3
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
COPY pyproject.toml services/docker/requirements.py ./
RUN python requirements.py course pyproject.toml > requirements.txt \
    && echo "jupyterhub==${JUPYTERHUB_VERSION}" >> requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

WORKDIR /opt/course
COPY pyproject.toml ./
COPY dlcore ./dlcore
COPY services ./services
COPY models ./models
COPY notebooks ./notebooks
COPY datasets /build/datasets
COPY services/docker/course-start.sh /usr/local/bin/course-start
# The data sets: verified against the manifest, taken from the build context's datasets/
# (as a mirror) or, where a file is missing there, downloaded.
# JupyterLab: no news or update checks (a classroom has no use for them, and they call
# out), and no autosave over the pristine copies (only the home directory is writable).
RUN mkdir -p datasets \
    && cp /build/datasets/manifest.json datasets/ \
    && DLCORE_DATA_MIRROR=/build/datasets /opt/venv/bin/python -m dlcore.data fetch cats mnist-small \
    && /opt/venv/bin/python -m dlcore.exercises.edition generate --source notebooks \
       --out exercises --nbgrader-env /build/nbgrader \
    && rm -rf services/docker \
    && mkdir -p /opt/venv/share/jupyter/lab/settings \
    && printf '%s\n' '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
       > /opt/venv/share/jupyter/lab/settings/overrides.json \
    && chmod -R a+rX,go-w /opt/course /opt/venv /usr/local/bin/course-start \
    && /opt/venv/bin/python -m compileall -q /opt/course


FROM python:3.11.14-slim-bookworm AS runtime

RUN groupadd --gid 10001 learner \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/learner \
       --shell /bin/bash learner

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/course /opt/course
COPY --from=build /usr/local/bin/course-start /usr/local/bin/course-start

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/course \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/learner \
    SHELL=/bin/bash

LABEL org.opencontainers.image.title="simpledl course" \
      org.opencontainers.image.description="The simpledl course in JupyterLab: dlcore, the notebooks, the trained models and the data sets"

USER 10001:10001
WORKDIR /home/learner
EXPOSE 8888

# For docker run / Compose; JupyterHub watches its servers itself. /api answers without a token.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8888/api', timeout=3)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["course-start"]
CMD ["jupyter", "lab", "--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888", "--no-browser", \
     "--ServerApp.root_dir=/home/learner"]
