# autoresolve — `make help` lists the targets. Every target sets up .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DOMAIN ?= data/crm
export AUTORESOLVE_HOME ?= $(CURDIR)/var
export OMP_NUM_THREADS ?= 1

.DEFAULT_GOAL := help
.PHONY: help setup browser serve test lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,postgres]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install autoresolve with its dev extras

serve: $(STAMP) ## train the demo domain if no champion exists, then serve it on $(HOST):$(PORT)
	AUTORESOLVE_ENV=$${AUTORESOLVE_ENV:-development} AUTORESOLVE_API_KEYS=$${AUTORESOLVE_API_KEYS:-dev-key} \
	  $(BIN)/autoresolve serve --domain $(DOMAIN) --host $(HOST) --port $(PORT) --train-if-missing

lint: $(STAMP) ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

browser: ## Debian's chromium + chromium-driver for the console's browser test (it skips where they cannot be installed)
	@command -v chromedriver >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
	  && { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	  || echo "chromium not installed: the console's browser test will skip"; }

test: lint browser ## lint, then the whole test suite (unit, integration, notebooks)
	@$(BIN)/python -m pytest -q $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo 'pytest: no tests collected'; exit 0; fi; exit $$rc

bench: $(STAMP) ## benchmarks; figures are ratios against baselines measured in the same run
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean: ## remove the state folder (store, MLflow runs) — not the venv
	rm -rf var
