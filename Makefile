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

.PHONY: env demo test lint typecheck pytest bench clean real-kuberay kuberay-crds

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
# run can never pass as green.
pytest: env
	$(BIN)/pytest

test: lint typecheck pytest

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
	chmod u+w $(REALKUBE)/crds/*.yaml
	touch $@

clean:
	rm -rf $(VENV) $(TOOLS) .airflow .pytest_cache .mypy_cache .ruff_cache
