# simpledl — the verbs people type. Each verb sets up what it needs (virtual environment,
# packages, data sets), so `make lab` and `make test` work on a fresh clone.
#
# Settings (environment or make variables):
#   PYTHON              interpreter used to create .venv (default: python3, needs >= 3.11 with venv)
#   DLCORE_DATA_MIRROR  directory laid out as <dataset>/<file> to take data files from
#                       instead of the network (CI sets it to ../shared/datasets)
#   DLCORE_DATA_DIR     where data files are cached (default: datasets/ in this checkout)
#   LAB_ARGS            extra arguments for `jupyter lab` (e.g. --no-browser --port=8899)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov, for the generic manifest and Dockerfile checks, in its own environment
# (about 290 MB the project does not share); k8s/checkov.sh pins its version.
CHECKOV := k8s/.checkov-venv/bin/checkov
COURSE_DATA := cats mnist-small

.DEFAULT_GOAL := help
.PHONY: help install data sysdeps lab test images stack models bench lint clean deploy-minikube checkov

help: ## list the verbs
	@echo "simpledl — make verbs:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "error: '$(PYTHON)' is missing or older than Python 3.11."; \
	  echo "  Install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv) or run: make PYTHON=/path/to/python3.11 ..."; \
	  exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "error: '$(PYTHON)' cannot create virtual environments (the venv/ensurepip modules are missing)."; \
	  echo "  Debian/Ubuntu: apt-get install python3-venv"; \
	  exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all]'
	@touch $@

install: $(STAMP) ## create .venv and install the project with all extras

data: $(STAMP) ## fetch and verify the course's data sets (cats, mnist-small)
	$(BIN)/python -m dlcore.data fetch $(COURSE_DATA)

sysdeps: ## install Chromium, nginx, buildah and debootstrap for the browser/nginx/image tests where missing and permitted (root + apt-get)
	@scripts/system-packages.sh

lab: data ## open the course in JupyterLab (notebooks/)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ARGS)

$(CHECKOV): k8s/checkov.sh
	PYTHON=$(PYTHON) k8s/checkov.sh --install
	@touch $@

# One BLAS thread: the notebooks' stored numbers and run times hold on a busy machine too
# (several OpenBLAS threads competing for 2 cores made training up to 10x slower).
# tests/images builds the images (reusing layers from the last build) and runs the stack
# from them; without root or a builder those tests skip and say how to run them.
test: data sysdeps $(CHECKOV) ## run the whole test suite and re-run every notebook with nbval (what CI runs)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env

# Docker when a daemon answers, else buildah (docs/deploy.md, "Building the images"). The
# course image bakes in the data sets `data` fetched.
images: data ## build the worker, gateway, frontend and course images (Docker, or buildah without a daemon)
	$(BIN)/python scripts/images.py build

models: data ## retrain the served models into models/ (cat, digits-mlp, digits-cnn) with their cards
	$(BIN)/python -m dlcore.train cats --out models
	$(BIN)/python -m dlcore.train digits-mlp --out models
	$(BIN)/python -m dlcore.train digits-cnn --out models

bench: data ## measure training and serving speed (PyTorch joins the comparison when its wheel is installable)
	-$(BIN)/python -m pip install --quiet torch==2.13.0 || echo "bench: PyTorch not installable here; comparing without it"
	$(BIN)/python -m benchmarks.training --plot docs/benchmarks.png
	$(BIN)/python -m benchmarks.serving --plot docs/serving-benchmark.png

stack: $(STAMP) ## serve the page, REST gateway and gRPC worker on 127.0.0.1 (Ctrl+C stops; STACK_ARGS="--port 8000")
	$(BIN)/python -m services.stack $(STACK_ARGS)

lint: $(STAMP) ## check the code with ruff
	$(BIN)/ruff check dlcore services tests benchmarks scripts k8s

deploy-minikube: ## build the images inside minikube and deploy the stack (docs/deploy.md)
	k8s/deploy-minikube.sh

checkov: ## scan manifests and Dockerfiles with checkov (own venv, ~290 MB, made once; make test runs it too)
	k8s/checkov.sh

clean: ## remove .venv, caches and build output (keeps downloaded data)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
