# Two entry points, both idempotent: `make demo` and `make test`.
# torch is installed first, pinned, so pip takes the CPU wheel on disk
# instead of downloading a CUDA build.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
# tcmalloc where installed (Debian: libtcmalloc-minimal4): CPU fine-tuning ~10% less CPU a step and
# ~0.25 GB lower peak RSS than glibc malloc (benchmarks/README.md); empty = glibc. Same list as
# benchmarks/finetune_cpu.py's TCMALLOC_GLOBS.
TCMALLOC ?= $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4 /usr/lib64/libtcmalloc_minimal.so.4 /usr/local/lib/libtcmalloc_minimal.so.4))

.PHONY: demo test install install-test clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	LD_PRELOAD=$(TCMALLOC) $(BIN)/harness demo

test: install-test
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) reports/demo
