# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app gateway
HOST ?= 127.0.0.1
PORT ?= 5000
PHONE ?= +6281200000001

.PHONY: demo test test-fast install install-test dial lint bench clean help

$(BIN)/activate:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamps: reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

## demo: set up, load demo data and run the gateway on the embedded default (SQLite, no Redis)
demo: install
	$(FLASK) db upgrade
	$(FLASK) regions import
	$(FLASK) demo
	@if command -v espeak-ng >/dev/null; then $(FLASK) voice render --fixed-only; \
	else echo "espeak-ng is not installed: the simulator's calls will be silent (apt-get install espeak-ng sox)"; fi
	@echo
	@echo "The gateway is starting on http://$(HOST):$(PORT)"
	@echo "  staff console:   http://$(HOST):$(PORT)/staff      (log-ins above)"
	@echo "  phone simulator: http://$(HOST):$(PORT)/simulator"
	@echo "  or dial from another terminal: make dial   (or: make dial PHONE=0812...)"
	@echo "Stop it with Ctrl-C."
	@echo
	$(FLASK) run --host $(HOST) --port $(PORT)

## dial: a USSD session in this terminal, against the same endpoint code
dial: install
	$(FLASK) dial $(PHONE)

## test: install what the tests need, lint, type-check and run every test
# Needs PostgreSQL and Redis on 127.0.0.1, and Debian's chromium for the browser tests: .ci/run
# starts/installs all three.
test: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m flows.validate
	$(BIN)/pytest

## test-fast: the pure tests only (no PostgreSQL, Redis, processes or browser), in seconds
# For the edit-test loop: no lint. The others are marked `servers` (tests/conftest.py).
test-fast: install-test
	$(BIN)/pytest -q -m "not servers"

## lint: ruff and mypy, as `make test` runs them
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## bench: the USSD load benchmark (PostgreSQL, Redis, gunicorn, wrk)
bench: install-test
	$(BIN)/python bench/ussd_load.py

## install: create .venv and install the gateway (again only when pyproject.toml changes)
install: $(VENV)/.installed
## install-test: the same, with what the tests need
install-test: $(VENV)/.installed-test

## clean: remove .venv, instance/ and the tools' caches
clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .hypothesis

## help: these targets, one line each
help:
	@sed -n 's/^## \([a-z-]*\): \(.*\)/  \1\t\2/p' $(MAKEFILE_LIST) | expand -t 16
