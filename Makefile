# modelserve: set-up and test entry points. `make run` and `make test` are the two to know.
include operator/modelserve/localcluster/versions.env

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: help deps venv system-deps binaries lint typecheck unit e2e test run cluster-up cluster-down \
        mlserver render fuzz e2e-keda bench bench-canary bench-autoscaling bench-storage bench-scale sync-crds \
        check-crds \
        kind-up deploy clean

help:
	@echo "make run      local control plane + Prometheus + operator + examples (Ctrl-C tears down)"
	@echo "make test     install everything, then lint, unit and e2e tests"
	@echo "make deps | binaries | lint | typecheck | unit | e2e | cluster-up | cluster-down | fuzz | e2e-keda | bench"

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

venv: $(PY)
	$(PIP) install -q -e ".[dev]"

system-deps:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends prometheus; }
	@command -v openssl >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q openssl; }
	@command -v go >/dev/null || { echo "Go is required to build the Kubernetes binaries" >&2; exit 1; }

binaries:
	bash hack/build-binaries.sh all

deps: venv system-deps binaries

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	bash hack/check-chart-crds.sh

typecheck: venv
	$(VENV)/bin/mypy operator/modelserve

unit: venv
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

# Two pytest sessions at once, each on a control plane of its own (hack/e2e-lanes.sh): the long
# scenarios that mostly wait on the clock (marker side_lane) beside the rest.
e2e: deps mlserver
	PY=$(PY) bash hack/e2e-lanes.sh $(PYTEST_ARGS)

# The Go builds (CPU) overlap the Python installs (network) and lint/typecheck: on a cold machine this
# saves the venv and MLServer installs' minutes. The tests start once everything is in place.
test:
	$(MAKE) --no-print-directory -j4 deps mlserver lint typecheck
	PY=$(PY) bash hack/e2e-lanes.sh --unit $(PYTEST_ARGS)

# The real model server of the e2e data plane (docs/dataplane.md): MLServer in its own cached venv, since
# its dependencies conflict with ours. Reinstalled only when the pinned requirements change.
MLSERVER_REQUIREMENTS := tests/dataplane/mlserver-requirements.txt
MLSERVER_VERSION := $(shell sed -n 's/^mlserver==//p' $(MLSERVER_REQUIREMENTS))
MLSERVER_VENV ?= $(HOME)/.cache/modelserve/mlserver-$(MLSERVER_VERSION)

mlserver:
	@if cmp -s $(MLSERVER_REQUIREMENTS) $(MLSERVER_VENV)/requirements.installed; then exit 0; fi; \
	  echo "installing MLServer $(MLSERVER_VERSION) into $(MLSERVER_VENV) (once; cached)"; \
	  rm -rf $(MLSERVER_VENV) && python3 -m venv $(MLSERVER_VENV) && \
	  $(MLSERVER_VENV)/bin/pip install -q --upgrade pip && \
	  $(MLSERVER_VENV)/bin/pip install -q -r $(MLSERVER_REQUIREMENTS) && \
	  $(MLSERVER_VENV)/bin/mlserver --help >/dev/null && \
	  cp $(MLSERVER_REQUIREMENTS) $(MLSERVER_VENV)/requirements.installed

run: deps mlserver
	$(PY) hack/run_demo.py

cluster-up: deps
	$(PY) -m modelserve.localcluster up

cluster-down:
	$(PY) -m modelserve.localcluster down

render: venv
	$(VENV)/bin/modelserve render -f examples/fraud-detector.yaml

# Long scenarios kept out of `make test`: the render dry run at 10,000 generated models (1,000 in make test);
# the schema fuzz (tests/fuzz) with 2,000 generated resources through the API server and 20 live reconciles
# (100 and 4 in make test), and 2,000 offline (30 in make test). MODELSERVE_FUZZ_SHRINK=1 shrinks a failure.
fuzz: deps
	MODELSERVE_DRY_RUN_MODELS=10000 $(PY) -m pytest tests/e2e/test_render_dry_run.py -q -s $(PYTEST_ARGS)
	MODELSERVE_FUZZ_EXAMPLES=2000 MODELSERVE_FUZZ_LIVE=20 MODELSERVE_FUZZ_OFFLINE_EXAMPLES=2000 \
	  $(PY) -m pytest tests/e2e/test_fuzz_api.py tests/unit/test_fuzz_offline.py -q $(PYTEST_ARGS)

# The KEDA path of reactive autoscaling (tests/e2e/test_keda_autoscaling.py, marker `keda`, deselected in
# make test): KEDA's operator and metrics server built from its Go module (a long cold build, so not in
# `make binaries`; cached after), then that one e2e file.
e2e-keda: deps mlserver
	nice -n 15 bash hack/build-binaries.sh keda
	$(PY) -m pytest tests/e2e/test_keda_autoscaling.py -m keda -q $(PYTEST_ARGS)

bench: bench-canary bench-autoscaling bench-storage bench-scale

bench-canary: venv
	$(PY) benchmarks/canary_judge.py

bench-autoscaling: venv
	for t in ../shared/traces/*_1min.csv; do $(PY) benchmarks/autoscaling.py --trace $$t; done

# storage-init vs plain boto3 on the local S3-compatible server (SeaweedFS, built by `make binaries`).
bench-storage: venv
	bash hack/build-binaries.sh seaweedfs
	nice -n 10 $(PY) benchmarks/storage.py --size 256MiB --size 2GiB

# The operator at 200, 1,000 and 5,000 models against a raw server-side apply (its own local control
# plane; about an hour on 2 cores). SCALE_N=200,1000 for a shorter run. Results: docs/benchmarks.md#scale.
SCALE_N ?= 200,1000,5000
bench-scale: venv binaries
	nice -n 10 $(PY) benchmarks/scale.py --n $(SCALE_N)

sync-crds:
	bash hack/sync-chart-crds.sh

check-crds:
	bash hack/check-chart-crds.sh

# For users with Docker (cannot run on the Docker-free CI machine): a kind cluster with the chart.
KIND_CLUSTER ?= modelserve
IMAGE ?= ghcr.io/modelserve/modelserve:0.1.0

kind-up:
	kind create cluster --name $(KIND_CLUSTER)
	docker build -t $(IMAGE) .
	kind load docker-image $(IMAGE) --name $(KIND_CLUSTER)

deploy:
	helm upgrade --install modelserve charts/modelserve -n modelserve-system --create-namespace \
	  --set image.pullPolicy=IfNotPresent

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
