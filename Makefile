# The two commands of the README: `make demo` and `make test`. Each creates .venv when missing and
# reinstalls when pyproject.toml changes (stamp file).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: demo test bench lint venv live-test

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gke-lab demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two pytest workers, one test file each at a time: most suites wait on servers and emulated latency, so
# two processes share the two cores well; module-scoped fixtures stay within one worker (--dist loadfile).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile tests/

bench: $(STAMP)
	$(BIN)/python -m bench

# The default lab on a real project (GKE_LAB_LIVE_PROJECT, Application Default Credentials): plan, up,
# verify, down; always torn down. Costs about one hour of a small regional cluster. Not part of `test`.
live-test: $(STAMP)
	$(BIN)/python -m gke_lab.cli.live_test
