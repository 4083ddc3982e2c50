# The same targets serve developers and CI (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install demo serve test policy-test lint typecheck check bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(INSTALLED)

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/phasegate demo

test: $(INSTALLED)
	$(BIN)/pytest

# The shipped policy's own cases (policies/tests/*.yaml): what it must decide.
policy-test: $(INSTALLED)
	$(BIN)/phasegate policy test policies

lint: $(INSTALLED)
	$(BIN)/ruff check gateway tests bench deploy
	$(BIN)/ruff format --check gateway tests bench deploy

typecheck: $(INSTALLED)
	$(BIN)/mypy

check: lint typecheck policy-test test

bench: $(INSTALLED)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
