# Two commands do all set-up on a fresh machine: `make demo` and `make test`. Everything runs in the
# project's own virtual environment (.venv), installed from requirements.lock by scripts/setup.sh.
VENV ?= $(CURDIR)/.venv
PYTHON := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
export VIRTUAL_ENV := $(VENV)
export METRICS_HOME ?= $(CURDIR)/.metrics
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test dev api lock screenshots bench

setup:
	@VENV=$(VENV) bash scripts/setup.sh
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## The main job on the embedded default: demo data -> DuckDB -> local sinks, then a summary.
demo: setup
	$(PYTHON) -m metrics_pipeline.demo.run

## The whole test suite (starts its own local servers on 127.0.0.1).
test: setup
	$(PYTHON) -m pytest -q

## The UI on http://127.0.0.1:$(PORT) over the demo's data (run `make demo` first); `make dev PORT=3001`.
PORT ?= 3000
dev: setup
	$(PYTHON) -m metrics_pipeline.demo.dev -h 127.0.0.1 -p $(PORT)

## The read API on http://127.0.0.1:$(API_PORT) over what `make demo` produced: its DuckDB warehouse, no server needed.
API_PORT ?= 8000
api: setup
	METRICS_API_BACKEND="$${METRICS_API_BACKEND:-duckdb}" \
	METRICS_WAREHOUSE_PATH="$${METRICS_WAREHOUSE_PATH:-$(METRICS_HOME)/warehouse.duckdb}" \
	$(PYTHON) -m metrics_pipeline.api --host 127.0.0.1 --port $(API_PORT)

## Refresh requirements.lock after changing dependencies in pyproject.toml (then commit it).
lock:
	@VENV=$(VENV) bash scripts/lock.sh

## Screenshots of a running UI over the demo (headless Chromium) into $(METRICS_HOME)/screenshots;
## UPDATE_DOCS=1 rewrites the README's docs/screenshots/*.png instead.
screenshots: setup
	bash scripts/screenshots.sh

## Benchmarks (not part of CI); figures go to docs/benchmarks.md.
bench: setup
	$(PYTHON) bench/bench_runs.py
