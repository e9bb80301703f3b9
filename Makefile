# criptopipe — the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else the pip-installed module (installed on first use).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen
PYTEST_ARGS ?=
# make test runs the suite on two pytest-xdist workers, one test directory per worker at a
# time (its session fixtures are built once; a few slow files are groups of their own), the
# longest groups first (tests/conftest.py); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2

.PHONY: help uv install services services-down status test test-fast lint audit demo run ui dashboard simulator browser-deps clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet --disable-pip-version-check uv

# --compile-bytecode: the .pyc files are written once here. Where PYTHONDONTWRITEBYTECODE is
# set (as on the CI machine) nothing writes them later, and every dbt and Dagster process
# would compile its imports again: `import dagster, dagster_dbt` takes 5.3 CPU s that way,
# 2.8 s from the compiled files; `dbt --version` 4.3 s against 2.6 s.
install: uv ## Create .venv with uv and install the locked dependencies
	$(UV) sync --frozen --compile-bytecode

services: install ## Start PostgreSQL and the MongoDB-protocol server (builds FerretDB once)
	$(RUN) criptopipe services up

services-down: ## Stop the servers the project started (data stays)
	$(RUN) criptopipe services down

status: ## Show what runs where
	$(RUN) criptopipe services status

browser-deps: ## Install Debian's chromium for the browser tests (needs root; skipped otherwise)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: browser tests will be skipped"; }

# Everything but the live-API checks, the soak too (tests/soak, its own xdist group: three
# simulated days of the schedules, ~6 min at load 2, beside the rest of the suite).
test: services browser-deps ## The whole offline suite against real PostgreSQL + FerretDB (CI runs this)
	$(RUN) pytest -m "not live" -n $(PYTEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

test-fast: services ## The quick default suite (no chaos, browser or slow tests)
	$(RUN) pytest $(PYTEST_ARGS)

lint: services ## ruff (lint + format check), mypy and sqlfluff (its dbt templater needs the database)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	eval "$$($(RUN) criptopipe dbt-env)" && $(RUN) sqlfluff lint dbt_project/models

audit: install ## Vulnerability audit of the locked dependencies (pip-audit; AUDIT_SERVICE=osv)
	$(RUN) python .ci/audit.py

demo: services ## Run the whole pipeline offline against the simulator, then start the UIs
	$(RUN) criptopipe demo

run: services ## Run the pipeline once against the LIVE public APIs (needs internet)
	$(RUN) criptopipe run

ui: install ## Start the Dagster UI (webserver + daemon)
	$(RUN) criptopipe ui

dashboard: install ## Start the Streamlit dashboard
	$(RUN) criptopipe dashboard

simulator: install ## Serve every API offline on port 8765
	$(RUN) criptopipe simulator --port 8765

clean: services-down ## Stop services and delete local state (.criptopipe/) — asks first
	@read -p "delete .criptopipe/ (all local data)? [y/N] " ans && [ "$$ans" = y ] && rm -rf .criptopipe
