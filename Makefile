# The README's two commands are `make run` and `make test`; the rest serve them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-random unit integration lint typecheck bench stack-install stack-up stack-down stack-status clean

PARTS := cli operator runtime dev

# Every part installed editable (a path in a .pth file: no import hook, no link
# tree), with the tools of the workspace's dev group.
$(STAMP): pyproject.toml $(PARTS:%=%/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet $(PARTS:%=-e ./%) --group dev
	@touch $(STAMP)

venv: $(STAMP)

## run: control plane, operator, the example Store reconciled, its shop on :8000
run: $(STAMP)
	$(BIN)/storefleet dev run

## test: the whole suite, unit and integration, on real servers
test: $(STAMP) stack-install lint
	$(BIN)/pytest tests

# The suite runs in file order; this runs unit and integration shuffled
# (pytest-randomly; it prints its seed, `--randomly-seed=N` replays an order).
test-random: $(STAMP) stack-install
	$(BIN)/pytest -p randomly tests/unit tests/integration

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) stack-install
	$(BIN)/pytest tests/integration

lint: $(STAMP) typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy finds each part's src/ through mypy_path (pyproject.toml).
typecheck: $(STAMP)
	$(BIN)/mypy -p storefleet.cli -p storefleet.operator -p storefleet.runtime -p storefleet.dev

## bench: load and checkout figures on this machine (see bench/RESULTS.md)
bench: $(STAMP)
	$(BIN)/python bench/load.py
	$(BIN)/python bench/checkout.py

## stack-install: build or install the dev stack's servers once (cached)
stack-install: $(STAMP)
	$(BIN)/storefleet dev stack install

stack-up: $(STAMP)
	$(BIN)/storefleet dev stack up

stack-down: $(STAMP)
	$(BIN)/storefleet dev stack down

stack-status: $(STAMP)
	$(BIN)/storefleet dev stack status

clean:
	rm -rf build .mypy_cache .pytest_cache .ruff_cache
