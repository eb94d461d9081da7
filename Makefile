# The two commands in README.md are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
export MELTANO_CLI_DISABLE_VERSION_CHECK := true
export UV_PROJECT_ENVIRONMENT := $(VENV)

PACKAGES := $(wildcard */pyproject.toml)

.PHONY: install plugins peers browser contract demo test lint format clean

$(BIN)/.installed: pyproject.toml $(PACKAGES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet "uv>=0.9"
	$(BIN)/uv sync --quiet --python $(BIN)/python
	touch $@

install: $(BIN)/.installed

# The Meltano plugins of the flows, in .meltano/ (uv venvs, editable: code changes need no
# reinstall; a changed meltano.yml or pyproject does). About 5 s.
PLUGINS_STAMP := .meltano/.plugins-installed
$(PLUGINS_STAMP): $(BIN)/.installed meltano.yml
	$(BIN)/meltano install tap-hubspot-contacts tap-kustomer target-atlassian-csm
	touch $@

plugins: $(PLUGINS_STAMP)

# The peer taps of tests/peers (tap-zendesk, tap-hubspot, meltano-tap-hubspot, tap-kustomer,
# unmodified from PyPI) and mitmproxy, each in its own virtualenv. About 45 s, once.
PEERS_STAMP := .venv-peers/.installed
$(PEERS_STAMP): .ci/install-peers
	.ci/install-peers
	touch $@

peers: $(PEERS_STAMP)

# Chromium (Debian package) and the Nu Html Checker (vnu.jar from npm, run with the machine's
# Java) for tests/report, which looks at the HTML report in a real browser. Skipped when there.
BROWSER_STAMP := .venv-tools/.installed
$(BROWSER_STAMP): .ci/install-browser
	.ci/install-browser
	touch $@

browser: $(BROWSER_STAMP)

# Prism (npm's @stoplight/prism-cli, pinned) in .node/, the validating proxy of tests/contract.
# About 20 s, once; skipped when that version is installed.
CONTRACT_STAMP := .node/.installed
$(CONTRACT_STAMP): .ci/install-contract
	.ci/install-contract
	touch $@

contract: $(CONTRACT_STAMP)

demo: install plugins
	$(BIN)/python -m sandbox.demo

test: install peers browser contract
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# Development environments only: .meltano/ (Meltano's state and the prod ledger) is kept.
clean:
	rm -rf $(VENV) .venv-proxy .venv-peers .venv-tools .node .meltano/extractors .meltano/loaders output
