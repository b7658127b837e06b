# Two entry points for a fresh machine (Python 3.11+, Debian, root for system packages):
#   make up    set up .venv and start the live system on the embedded default
#   make test  set up .venv and system packages, then lint, type-check and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test install system-deps lint simulate compare bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/energy-agents up

system-deps:
	bash scripts/install_system_deps.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: $(STAMP) system-deps
	bash scripts/test.sh

simulate: $(STAMP)
	$(BIN)/energy-agents simulate

compare: $(STAMP)
	$(BIN)/energy-agents compare

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
