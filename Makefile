# Lienthong — the few targets people need. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: help setup demo test unit lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install Lienthong with its dev tools

demo: $(STAMP)  ## import the four ward plans and play a scripted quarter (embedded PostgreSQL)
	$(BIN)/lienthong demo

test: $(STAMP)  ## the whole test suite (unit + integration on a real PostgreSQL)
	$(BIN)/pytest

unit: $(STAMP)  ## the pure unit tests only (no database)
	$(BIN)/pytest tests/unit

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)  ## apply ruff's formatter and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:  ## remove the local embedded database and caches (keeps .venv)
	rm -rf .lienthong .pytest_cache .mypy_cache .ruff_cache .hypothesis
