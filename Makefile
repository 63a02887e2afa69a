# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Each creates or refreshes its own environment from uv.lock. Nothing is written outside this folder:
# uv's download cache lives in .tools/ too (unless UV_CACHE_DIR says otherwise), pip keeps none.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_CACHE_DIR ?= $(CURDIR)/$(TOOLS)/uv-cache

.PHONY: env demo test lint typecheck pytest bench clean real-kuberay kuberay-crds conformance

# The local KubeRay needs kmock, which needs Python 3.11+: say so before anything is installed.
$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "make: $(PYTHON) is Python < 3.11; run with PYTHON=python3.11 (or newer)" >&2; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --no-cache-dir --disable-pip-version-check "uv==$(UV_VERSION)"

# --locked: fail instead of silently re-resolving when pyproject.toml and uv.lock disagree.
env: $(UV)
	$(UV) sync --locked --quiet

demo: env
	AIRFLOW_HOME=$(CURDIR)/.airflow $(BIN)/python scripts/demo.py

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: env
	$(BIN)/mypy

# pytest exits 5 when it collected no test; make treats any non-zero exit as failure, so an empty
# run can never pass as green. The real-control-plane tier (tests marked realkube) is part of it:
# REALKUBE_REQUIRED=1 turns "not built" into a failure instead of a skip.
# Two pytest workers (pytest-xdist), a test file each at a time: most of the suite waits on Ray
# heads and API servers, so two files in flight use the two cores. PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
pytest: env real-kuberay
	REALKUBE_REQUIRED=1 $(BIN)/pytest --realkube -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

# The real-control-plane tier alone: the provider's DAG tests on the real kube-apiserver, etcd and
# KubeRay operator, and the differential suite of the local KubeRay against them. Its observations
# go to .tools/realkube/conformance.json.
conformance: env real-kuberay
	REALKUBE_REQUIRED=1 CONFORMANCE_REPORT=$(CURDIR)/$(REALKUBE)/conformance.json \
		$(BIN)/pytest --realkube -m realkube tests/conformance tests/integration/airflow \
		tests/integration/realkube tests/real_cluster

bench: env
	$(BIN)/python bench/import_time.py

# --- the real control plane (kube-apiserver, etcd, KubeRay operator) built from the Go module proxy ---
# Only module names and versions are in the repo (tools/realkube/*/go.mod, go.sum); the modules, the
# build cache and the binaries live in .tools/. Each binary is rebuilt only when its go.mod/go.sum changes.
GO ?= go
REALKUBE := $(TOOLS)/realkube
KUBERAY_VERSION := v1.6.2
GO_ENV := GOMODCACHE=$(CURDIR)/$(TOOLS)/go/mod GOCACHE=$(CURDIR)/$(TOOLS)/go/cache GOFLAGS=-mod=readonly GOTOOLCHAIN=local
GO_BUILD := $(GO) build -trimpath -ldflags='-s -w'
KUBERAY_MODULE_DIR := $(TOOLS)/go/mod/github.com/ray-project/kuberay/ray-operator@$(KUBERAY_VERSION)

# KubeRay's CRDs of the release the operator is built from, read from the module itself.
kuberay-crds: $(REALKUBE)/crds/.done
$(REALKUBE)/crds/.done: tools/realkube/kuberay/go.mod tools/realkube/kuberay/go.sum
	cd tools/realkube/kuberay && $(GO_ENV) $(GO) mod download github.com/ray-project/kuberay/ray-operator
	mkdir -p $(REALKUBE)/crds
	cp $(KUBERAY_MODULE_DIR)/config/crd/bases/*.yaml $(REALKUBE)/crds/
	cp $(KUBERAY_MODULE_DIR)/config/rbac/role.yaml $(REALKUBE)/crds/operator-clusterrole.yaml
	chmod u+w $(REALKUBE)/crds/*.yaml
	touch $@

# The three binaries, each a file target: a second `make real-kuberay` finds them newer than their
# go.mod/go.sum and does nothing.
RK_BIN := $(REALKUBE)/bin
real-kuberay: $(RK_BIN)/kube-apiserver $(RK_BIN)/kube-controller-manager $(RK_BIN)/etcd \
	$(RK_BIN)/kuberay-operator $(REALKUBE)/crds/.done

# One `go build` for both Kubernetes binaries: they share most of their packages and the build cache.
$(RK_BIN)/kube-apiserver $(RK_BIN)/kube-controller-manager &: tools/realkube/kubernetes/go.mod tools/realkube/kubernetes/go.sum
	mkdir -p $(RK_BIN)
	cd tools/realkube/kubernetes && $(GO_ENV) $(GO_BUILD) -o $(CURDIR)/$(RK_BIN)/ \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
	touch $(RK_BIN)/kube-apiserver $(RK_BIN)/kube-controller-manager

$(RK_BIN)/etcd: tools/realkube/etcd/go.mod tools/realkube/etcd/go.sum
	mkdir -p $(RK_BIN)
	cd tools/realkube/etcd && $(GO_ENV) $(GO_BUILD) -o $(CURDIR)/$@ go.etcd.io/etcd/server/v3

$(RK_BIN)/kuberay-operator: tools/realkube/kuberay/go.mod tools/realkube/kuberay/go.sum
	mkdir -p $(RK_BIN)
	cd tools/realkube/kuberay && $(GO_ENV) $(GO_BUILD) -o $(CURDIR)/$@ github.com/ray-project/kuberay/ray-operator

clean:
	rm -rf $(VENV) $(TOOLS) .airflow .pytest_cache .mypy_cache .ruff_cache
