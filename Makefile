# dlrw — `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DLRW := $(BIN)/dlrw
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DLRW_DATA_DIR ?= $(CURDIR)/data
# The tests' Spark server (tests/spark/conftest.py reads the same variable).
TEST_SPARK_URL := $${DLRW_TEST_SPARK_URL:-spark://127.0.0.1:10010}

.PHONY: help setup services stop demo test lint format bench soak clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency pins or the package metadata change.
$(VENV)/.installed: pyproject.toml setup.py constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

setup: $(VENV)/.installed ## install dlrw and its pinned dependencies into .venv

services: setup ## start the local Kafka broker, schema registry and PostgreSQL, install Chromium and Prometheus (idempotent)
	$(DLRW) broker start
	$(DLRW) registry start
	bash docker/postgres/start.sh
	bash docker/chromium/install.sh
	bash docker/prometheus/install.sh

stop: ## stop the local Kafka broker, schema registry and the tests' Spark server
	-DLRW_WAREHOUSE_URL=$(TEST_SPARK_URL) $(DLRW) spark stop
	-$(DLRW) registry stop
	-$(DLRW) broker stop

demo: services ## run the whole pipeline on simulated traffic and print where the results are
	$(DLRW) demo

# The tests' Spark server starts (and fetches its jars) before any test's timeout runs.
# Three workers on two cores: most tests wait on Kafka, PostgreSQL or Spark, not on a core.
test: services ## run the whole test suite against the real services
	DLRW_WAREHOUSE_URL=$(TEST_SPARK_URL) $(DLRW) spark start
	$(BIN)/pytest -q -n 3 --dist loadfile --durations=15

lint: setup ## ruff, mypy and sqlfluff
	$(BIN)/ruff check ingest models tests bench setup.py
	$(BIN)/ruff format --check ingest models tests bench setup.py
	mkdir -p build/typecheck/dlrw
	for folder in ingest models dbt_project; do ln -sfn $(CURDIR)/$$folder build/typecheck/dlrw/$$folder; done
	$(BIN)/mypy
	$(DLRW) schemas check
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/macros dbt_project/tests

format: setup ## apply ruff formatting and fixes
	$(BIN)/ruff check --fix ingest models tests bench setup.py
	$(BIN)/ruff format ingest models tests bench setup.py

bench: services ## run the benchmarks and print measured figures
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.ingest --events 300000 --wire-format registry
	$(BIN)/python -m bench.produce
	$(BIN)/python -m bench.dbt
	$(BIN)/python -m bench.simulate
	$(BIN)/python -m bench.alerts_latency
	$(BIN)/python -m bench.collect

soak: services ## long fault tests, 150k fuzz examples, then ingest at 80% of max for 10 min
	DLRW_FUZZ_EXAMPLES=10000 $(BIN)/pytest -q -m soak tests/reliability
	DLRW_FUZZ_EXAMPLES=6000 $(BIN)/pytest -q tests/reliability/test_fuzz.py
	$(BIN)/python -m bench.soak --minutes $${SOAK_MINUTES:-10}

clean: stop ## remove local state (data dir, caches); keeps .venv
	rm -rf $(DLRW_DATA_DIR) build .pytest_cache .mypy_cache .ruff_cache
