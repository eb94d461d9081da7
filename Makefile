# The two commands in README.md are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
export MELTANO_CLI_DISABLE_VERSION_CHECK := true
export UV_PROJECT_ENVIRONMENT := $(VENV)

PACKAGES := $(wildcard */pyproject.toml)

.PHONY: install demo test lint format clean

$(BIN)/.installed: pyproject.toml $(PACKAGES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet "uv>=0.9"
	$(BIN)/uv sync --quiet --python $(BIN)/python
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/python -m sandbox.demo

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .meltano output
