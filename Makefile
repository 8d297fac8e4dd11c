# predlog: every target sets up what it needs; `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
MODELS_DIR ?= var/models
STAMP := $(VENV)/.installed
# The remote-version tests' KServe model server: a venv of its own (KServe pins psutil<6)
UPSTREAM_VENV := .venv-upstream
UPSTREAM_STAMP := $(UPSTREAM_VENV)/.installed

export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install models run test test-fast faults lint format bench lock clean system-deps

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

## install: the project and every dependency group into .venv, from the lock files
install: $(STAMP) $(UPSTREAM_STAMP)
$(STAMP): $(UV) requirements/dev.txt pyproject.toml
	$(UV) venv --allow-existing --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(VENV) $(UV) pip sync requirements/dev.txt
	VIRTUAL_ENV=$(VENV) $(UV) pip install --no-deps -e .
	touch $(STAMP)
$(UPSTREAM_STAMP): $(UV) requirements/upstream.txt
	$(UV) venv --allow-existing --python $(PYTHON) $(UPSTREAM_VENV)
	VIRTUAL_ENV=$(UPSTREAM_VENV) $(UV) pip sync requirements/upstream.txt
	touch $(UPSTREAM_STAMP)

## lock: recompute the pinned requirement files from pyproject.toml
lock: $(UV)
	$(UV) pip compile pyproject.toml --all-extras --group dev --python-version 3.11 --generate-hashes --universal -q -o requirements/dev.txt
	$(UV) pip compile pyproject.toml --extra api --extra sidecar --extra dashboard --python-version 3.11 --generate-hashes --universal -q -o requirements/runtime.txt
	$(UV) pip compile pyproject.toml --extra train --python-version 3.11 --generate-hashes --universal -q -o requirements/train.txt
	$(UV) pip compile pyproject.toml --extra client --python-version 3.11 --generate-hashes --universal -q -o requirements/client.txt
	$(UV) pip compile requirements/upstream.in --python-version 3.11 --generate-hashes --universal -q -o requirements/upstream.txt

## system-deps: Debian packages the tests drive (headless Chromium, wrk, promtool)
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## models: train the demo bundles if they are missing or the training code changed
models: $(MODELS_DIR)/.trained
$(MODELS_DIR)/.trained: $(STAMP) $(wildcard training/*.py)
	$(BIN)/predlog train --out $(MODELS_DIR)
	touch $@

## run: start the whole system on the embedded SQLite store
run: models
	$(BIN)/predlog run --models $(MODELS_DIR)

## lint: ruff and mypy --strict
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## test: lint, then the whole suite
test: install system-deps models lint
	$(BIN)/pytest

## faults: the long fault scenarios (tests/faults, about 25 minutes: a 10-minute soak among
## them); their figures go to test-output/faults/results.jsonl (the short ones run in test)
faults: install models
	rm -f test-output/faults/results.jsonl
	$(BIN)/pytest tests/faults -m "faults_long or not faults_long" $(PYTEST_ARGS)
	$(BIN)/python -m tests.faults.report

## bench: the figures in the README
bench: install system-deps models
	$(BIN)/python -m bench --models $(MODELS_DIR) $(PARTS)

clean:
	rm -rf $(VENV) $(TOOLS) $(UPSTREAM_VENV) .venv-checkov var .mypy_cache .ruff_cache .pytest_cache

# Images, Kubernetes manifests and deployment (build_all, push_all, deploy, delete, render).
include deploy.mk
