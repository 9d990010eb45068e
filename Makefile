# gradviz: `make lab` to explore the notebooks, `make test` to check everything.
#
# Needs only GNU make and python3 (3.11); `make test` also installs Debian's chromium with
# apt-get where it is missing (the browser test drives it; sudo unless root). Every target
# that runs code first sets up .venv itself: it creates the venv if missing and installs
# gradviz (editable) with its [dev] extra, every package held to the exact version in
# constraints.txt. The stamp .venv/.installed is remade whenever pyproject.toml or
# constraints.txt changes. It also installs binder/overrides.json as JupyterLab's default
# settings for this venv (no "Would you like to get notified about Jupyter news?" prompt,
# no update check), as binder/postBuild does on Binder.
# Nothing unpinned is upgraded (not even pip).
#
# `make lock` re-resolves the newest releases into constraints.txt from a throwaway,
# fresh venv (build/lock-venv). Run it with Python 3.11, then copy the new versions of
# the runtime packages into environment.yml and binder/requirements.txt
# (tests/test_packaging.py fails until they agree), re-run every notebook
# ("Restart kernel and run all") and `make test`: committed notebook outputs are only
# reproducible against the versions in constraints.txt.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK_VENV := build/lock-venv
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x -k flow"`.
PYTEST_ARGS ?=
# Extra JupyterLab arguments, e.g. `make lab LAB_ARGS=--allow-root` in a container as root,
# or `make lab LAB_ARGS="--no-browser --ServerApp.port=8890"`.
LAB_ARGS ?=
# `make test` runs every notebook with XLA's CPU code limited to this instruction set:
# the committed outputs come from a machine with a newer one (AVX-512), so nbval compares
# outputs across instruction sets, and a printed number that depends on the CPU fails here,
# not on a learner's machine. Empty runs XLA's native code: `make test NBVAL_ISA=`.
NBVAL_ISA ?= AVX
# pytest-xdist workers for `make test` (one per core; 0 runs everything in one process).
# --dist loadfile keeps each test file, and each notebook with its kernel, on one worker;
# files start in the order tests/conftest.py sets (the notebooks, then the browser test,
# which finds their compiled programs in the cache below, then the unit tests), not
# xdist's order by number of tests.
PYTEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
XDIST := -n $(PYTEST_JOBS) --dist loadfile --no-loadscope-reorder
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval-sanitize.cfg \
  --nbval-cell-timeout=300 -p no:cacheprovider
# `make test` keeps XLA's compiled programs on disk (JAX's persistent compilation cache),
# one folder per instruction set: the browser test and nbval run the same notebooks, the
# unit tests free compiled code between modules, and a second `make test` starts warm.
# A program loaded from the cache still counts in gradviz.compiles' recompile checks.
# (The unit tests compile with XLA's backend optimisation off: tests/conftest.py.)
JAX_CACHE := $(CURDIR)/build/jax-cache
ISA := $(strip $(NBVAL_ISA))
jax_env = JAX_PLATFORMS=cpu JAX_COMPILATION_CACHE_DIR=$(JAX_CACHE)/$(or $(ISA),native) \
  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1 \
  $(if $(ISA),XLA_FLAGS="$$XLA_FLAGS --xla_cpu_max_isa=$(ISA)")
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings
# The browser test drives Debian's Chromium (Playwright never downloads a browser here).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help setup browser lab test lint clean lock

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt binder/overrides.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -c constraints.txt -e ".[dev]"
	mkdir -p $(LAB_SETTINGS) && cp binder/overrides.json $(LAB_SETTINGS)/overrides.json
	touch $@

setup: $(STAMP) ## Create .venv with the pinned versions (done by every target below)

browser: ## Install Debian's chromium for the browser test, where it is missing
	command -v chromium >/dev/null || test -x $(CHROMIUM) || \
	  ($(SUDO) apt-get update && \
	   $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)

lab: setup ## Open JupyterLab on notebooks/ (localhost only, token auth; LAB_ARGS=... for more)
	$(BIN)/jupyter lab notebooks/ --ServerApp.ip=127.0.0.1 $(LAB_ARGS)

test: setup browser ## ruff; unit tests, the browser test and nbval (XLA limited to NBVAL_ISA)
	$(BIN)/ruff check .
	$(jax_env) $(BIN)/python -m pytest $(XDIST) --durations=25 tests notebooks $(NBVAL) \
	  $(PYTEST_ARGS)

lint: setup ## ruff over the package, tests and notebooks
	$(BIN)/ruff check .

clean: ## Remove .venv, caches and build outputs
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

lock: ## Re-resolve the newest versions into constraints.txt (fresh venv)
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -e ".[dev]"
	$(LOCK_VENV)/bin/python -m pip freeze --exclude-editable --exclude gradviz > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)
