# make setup | demo | demo-quick | test | bench | lint    (each sets things up first)
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.robolearn-installed
LINT_PATHS := robolearn tests benchmarks setup.py

.PHONY: setup sysdeps demo demo-quick test bench bench-sample-efficiency lint

setup: $(STAMP) sysdeps

# Re-installs when the package metadata changes; otherwise a no-op.
$(STAMP): pyproject.toml setup.py
	@test -x $(PY) || { command -v $(PYTHON) >/dev/null || \
	    { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }; \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --upgrade pip setuptools
	$(PY) -m pip install -e '.[dev,ros,hardware,teleop,robomimic,cluster]'
	@touch $@

# libosmesa6: offscreen MuJoCo rendering without a GPU. chromium + chromium-driver: the
# labelling page's end-to-end test (headless). One apt-get call installs whatever is missing.
sysdeps:
	@missing=; \
	if ! { ldconfig -p 2>/dev/null | grep -q libOSMesa || dpkg -s libosmesa6 >/dev/null 2>&1; }; then \
	  missing="$$missing libosmesa6"; fi; \
	if ! { command -v chromium >/dev/null || dpkg -s chromium >/dev/null 2>&1; }; then \
	  missing="$$missing chromium"; fi; \
	if ! { command -v chromedriver >/dev/null || dpkg -s chromium-driver >/dev/null 2>&1; }; then \
	  missing="$$missing chromium-driver"; fi; \
	if [ -n "$$missing" ]; then \
	  command -v apt-get >/dev/null || \
	    { echo "error: install by hand (Debian/Ubuntu package names):$$missing" >&2; exit 1; }; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "error: missing system packages; as root run: apt-get install -y$$missing" >&2; exit 1; fi; \
	  echo "installing$$missing (offscreen MuJoCo rendering; headless Chromium for the labelling test)"; \
	  $$SUDO apt-get update && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$$missing; \
	fi

# Offscreen rendering through OSMesa unless the caller chose another backend (e.g. MUJOCO_GL=egl).
demo demo-quick test bench bench-sample-efficiency: export MUJOCO_GL ?= osmesa
demo demo-quick test bench bench-sample-efficiency: export PYOPENGL_PLATFORM ?= osmesa

# The whole stack sim-only into out/demo/report.html; a rerun resumes at the unfinished stage.
demo: setup
	$(VENV)/bin/robolearn demo

demo-quick: setup
	$(VENV)/bin/robolearn demo --quick --out out/demo-quick

test: setup
	$(PY) -m pytest -q

# Each benchmark runs its peer in the same run and prints one JSON object (see BENCHMARKS.md).
bench: setup
	$(PY) benchmarks/env_throughput.py --json
	$(PY) benchmarks/ros_latency.py --json
	$(PY) benchmarks/dataset_io.py --json
	$(PY) benchmarks/learner_throughput.py --json
	$(PY) benchmarks/serl_transport.py --json
	$(PY) benchmarks/alignment.py --json
	$(PY) benchmarks/arena_throughput.py --json

# About 1.5 hours on a 2-core CPU (5 seeds x 15,000 env steps; paper RLPD on 3 seeds at equal
# CPU); finished runs are kept in out/bench/se_runs, so a rerun resumes.
bench-sample-efficiency: setup
	$(PY) benchmarks/sample_efficiency.py --seeds 5 --rlpd-seeds 3 --runs out/bench/se_runs --json

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
