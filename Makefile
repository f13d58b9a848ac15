# Two commands: `make demo` (install + console with a live demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pytest-xdist workers: two per core (most tests wait on sockets, subprocesses and timers,
# so a core runs two well), at most 8; `make test JOBS=0` runs in one process
JOBS ?= $(shell $(PYTHON) -c 'import os; print(min(8, 2 * (os.cpu_count() or 1)))')
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist worksteal
# the layer contracts in pyproject.toml, read over .typecheck/ (the installed names)
LINT_IMPORTS := PYTHONPATH=.typecheck $(BIN)/lint-imports

.PHONY: demo test test-slow test-all test-fast serve lint typecheck layers bench fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/switchboard up --demo

serve: $(VENV)/.installed
	$(BIN)/switchboard serve --demo

# ruff, mypy, the layer contracts and every test not marked slow: under 3 minutes on 2 cores
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(LINT_IMPORTS)
	$(PYTEST) -m "not slow"

# the long end-to-end tests (the API fuzzer, real fleets, SIGKILL crash loops, the seeds'
# examples, the console in tmux); CI runs them after `make test`
test-slow: $(VENV)/.installed
	$(PYTEST) -m slow

# everything, as CI runs it (`.ci/run`)
test-all: test test-slow

test-fast: test

# The API fuzzer for longer than `make test` gives it: more examples per operation, role and
# mode, a fresh seed each run (printed), figures at the end. FUZZ_EXAMPLES/FUZZ_SECONDS override.
FUZZ_EXAMPLES ?= 100
FUZZ_SECONDS ?= 1200
fuzz: $(VENV)/.installed
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=random \
		$(BIN)/python -m pytest -s -p no:cacheprovider tests/server/test_fuzz.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

layers: $(VENV)/.installed
	$(LINT_IMPORTS)
