# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (lint, types, tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The CPU build of PyTorch; a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: demo test lint typecheck pytest install install-dev bench clean

$(VENV)/.base: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "selflearn needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -q -e '.[dev,spark]'
	bash scripts/install-system-deps.sh || echo "espeak-ng could not be installed: speech tests will be skipped"
	@touch $@

install: $(VENV)/.base
install-dev: $(VENV)/.dev

demo: $(VENV)/.base
	$(VENV)/bin/selflearn demo --out workspace/demo

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy

pytest: $(VENV)/.dev
	$(VENV)/bin/pytest -n 2 -q --durations=10

test: lint typecheck pytest

bench: $(VENV)/.dev
	$(PY) benchmarks/rewrite_loop.py

clean:
	rm -rf $(VENV) workspace .pytest_cache .mypy_cache .ruff_cache
