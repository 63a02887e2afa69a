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

.PHONY: env demo test lint typecheck pytest bench clean

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

clean:
	rm -rf $(VENV) $(TOOLS) .airflow .pytest_cache .mypy_cache .ruff_cache
