# image-mlops — the two commands a newcomer needs:
#   make demo   the whole lifecycle on the embedded local stack, then the Airflow UI stays up
#   make test   ruff + every test this machine can run (starts its own private stack)
# Both bootstrap the virtualenv from the pinned requirements on first use.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# cfn-lint and checkov, in a virtualenv of their own (checkov's pins clash with Airflow's)
IAC_VENV := .venv-iac
IAC_STAMP := $(IAC_VENV)/.installed
CLI := $(BIN)/image-mlops
PYTEST_ARGS ?=
# make test's parallel workers (pytest-xdist), each with a private stack of its own; most of
# the suite waits (bakes, alarm periods, polls), so more workers than cores
TEST_WORKERS ?= 4
# The scale-out profile: make up EXECUTOR=celery WORKERS=2 (CeleryExecutor, Redis, 2 workers)
TOPOLOGY := $(if $(EXECUTOR),--executor $(EXECUTOR)) $(if $(WORKERS),--workers $(WORKERS))

.DEFAULT_GOAL := help
.PHONY: help venv up down status logs demo demo-data test lint format bench docs docs-serve docs-screenshots constraints plugins-zip mwaa-bundle lambda-zip infra clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is needed: install python3.11 (with venv and pip)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed, found $$($(PYTHON) --version)"; exit 1; }
	@echo "==> creating $(VENV) with pinned dependencies (first run: a few minutes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	@$(BIN)/pip install --quiet --no-deps -e .
	@test -f .env || cp .env.example .env
	@touch $(STAMP)

venv: $(STAMP)  ## create/refresh the virtualenv from the pins

$(IAC_STAMP): requirements-iac.txt constraints-iac.txt
	@echo "==> creating $(IAC_VENV) (cfn-lint, checkov) with pinned dependencies"
	@test -x $(IAC_VENV)/bin/python || $(PYTHON) -m venv $(IAC_VENV)
	@$(IAC_VENV)/bin/pip install --quiet --upgrade pip
	@$(IAC_VENV)/bin/pip install --quiet -r requirements-iac.txt -c constraints-iac.txt
	@touch $(IAC_STAMP)

infra: $(STAMP)  ## regenerate infra/image-mlops.yaml (CloudFormation) from docs/iam and the settings
	@$(BIN)/python -m image_mlops_dev.infra

up: $(STAMP)  ## start PostgreSQL, the AWS emulator and Airflow (EXECUTOR=celery WORKERS=2: scale out)
	@$(CLI) stack up $(TOPOLOGY)

down: $(STAMP)  ## stop what `make up` started
	@$(CLI) stack down

status: $(STAMP)  ## what runs where
	@$(CLI) stack status

logs: $(STAMP)  ## follow every component's log (make logs C=scheduler for one)
	@$(CLI) stack logs -f $(C)

demo: $(STAMP)  ## the whole lifecycle on the local stack, then a summary (stack stays up)
	@$(CLI) demo $(TOPOLOGY)

demo-data: $(STAMP)  ## (re)generate the demo images under .local/demo-data
	@$(CLI) demo-data

lint: $(STAMP)  ## ruff check + format check
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: $(STAMP)  ## apply ruff's fixes and formatting
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

test: $(STAMP) $(IAC_STAMP)  ## ruff + pytest (its own private stack; nothing skipped silently)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

docs: $(STAMP)  ## build the documentation site into site/ (strict: a broken link fails)
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet && echo "site/index.html"

docs-serve: $(STAMP)  ## serve the documentation site on http://127.0.0.1:8000, rebuilt on change
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict

docs-screenshots: $(STAMP)  ## the docs' pictures, taken by headless Chromium from the stack (after make demo)
	@$(BIN)/python -m image_mlops_dev.docs_screenshots

bench: $(STAMP)  ## run every benchmark in bench/ and print the figures
	@for b in bench/*.py; do echo "==> $$b"; $(BIN)/python $$b || exit 1; done

plugins-zip: $(STAMP)  ## dist/plugins.zip for MWAA: the production package only
	@$(BIN)/python -m image_mlops_dev.packaging dist/plugins.zip

mwaa-bundle: $(STAMP)  ## dist/mwaa/ for MWAA: dags/, plugins.zip, requirements.txt, startup.sh (STACK=<your stack>)
	@$(BIN)/python -m image_mlops_dev.mwaa_bundle dist/mwaa --stack $(or $(STACK),image-mlops)

lambda-zip: $(STAMP)  ## dist/validate_lambda.zip: the Step Functions route's Lambda code
	@$(BIN)/python -m image_mlops_dev.packaging --lambda dist/validate_lambda.zip

constraints:  ## re-pin constraints.txt (the development lock) from a fresh resolve of requirements-dev.txt
	@rm -rf .venv-pin && $(PYTHON) -m venv .venv-pin && .venv-pin/bin/pip install --quiet --upgrade pip
	@.venv-pin/bin/pip install --quiet -r requirements-dev.txt
	@.venv-pin/bin/pip list --format=freeze --exclude pip > constraints.txt && rm -rf .venv-pin
	@echo "constraints.txt updated"

clean: down  ## stop the stack and delete all local state (.local/)
	@rm -rf .local
