# Two commands do all set-up on a fresh machine: `make demo` and `make test`. Everything runs in the
# project's own virtual environment (.venv), installed from requirements.lock by scripts/setup.sh.
VENV ?= $(CURDIR)/.venv
PYTHON := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
export VIRTUAL_ENV := $(VENV)
export METRICS_HOME ?= $(CURDIR)/.metrics
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test dev lock screenshots bench

setup:
	@VENV=$(VENV) bash scripts/setup.sh
	@mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## The main job on the embedded default: demo data -> DuckDB -> local sinks, then a summary.
demo: setup
	$(PYTHON) -m metrics_pipeline.demo.run

## The whole test suite (starts its own local servers on 127.0.0.1).
test: setup
	$(PYTHON) -m pytest -q

## The UI on http://127.0.0.1:3000 over the demo's data (run `make demo` first).
dev: setup
	$(PYTHON) -m metrics_pipeline.demo.dev -h 127.0.0.1 -p 3000

## Refresh requirements.lock after changing dependencies in pyproject.toml (then commit it).
lock:
	@VENV=$(VENV) bash scripts/lock.sh

## Regenerate docs/screenshots/*.png from a running UI over the demo (headless Chromium).
screenshots: setup
	bash scripts/screenshots.sh

## Benchmarks (not part of CI); figures go to docs/benchmarks.md.
bench: setup
	$(PYTHON) bench/bench_runs.py
