# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
export METRICS_HOME ?= $(CURDIR)/.metrics
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test dev bench

setup:
	@PYTHON=$(PYTHON) bash scripts/setup.sh
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

## Benchmarks (not part of CI); figures go to docs/benchmarks.md.
bench: setup
	$(PYTHON) bench/bench_daily_run.py
