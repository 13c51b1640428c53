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

CLASSIFIER := build/classifier
POSTS := ../shared/corpora/open2ch-ranking-dev/dev.tsv
CLASSIFIER_LABELS := labels/open2ch-dev.csv tests/data/dev_labels.csv labels/ood-written.csv

.PHONY: demo demo-mitigate test install install-test clean classifier

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# ngram_scan.c: pip compiles it on install (pyproject ext-modules), so an edit reinstalls
$(VENV)/.installed: $(BIN)/python pyproject.toml harness/analysis/ngram_scan.c
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install $(CLASSIFIER)/model.json
	LD_PRELOAD=$(TCMALLOC) $(BIN)/harness demo

# The demo with the loop closed (README "Closing the loop"): corpus.filter as a matrix axis and DPO
# through TRL (the `mitigate` extra) in each child → reports/demo-mitigate/
$(VENV)/.installed-mitigate: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[mitigate]'
	touch $@

# (exit 3 = the demo's gates failed, as they are meant to: like `make demo`, that is success here)
demo-mitigate: $(VENV)/.installed-mitigate
	LD_PRELOAD=$(TCMALLOC) $(BIN)/harness run configs/demo-mitigate.yaml; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 3 ]

# The default classifier (analysis.detectors: [lexicon, classifier]); rebuilt byte-identically from
# the labels and ../shared (again when a label file or the lexicon and its group and pair rules, which set its
# threshold, change).  Training needs scikit-learn (the `scorer` extra), installed here only when it can train.
# Without ../shared the harness flags with the lexicon alone.
classifier: install
	@if [ -f $(POSTS) ]; then \
		[ -f $(VENV)/.installed-scorer ] || { $(BIN)/pip install -q -e '.[scorer]' && touch $(VENV)/.installed-scorer; }; \
		OMP_NUM_THREADS=1 $(BIN)/harness scorer train $(addprefix --labels ,$(CLASSIFIER_LABELS)) \
			--text-from $(POSTS) --out $(CLASSIFIER); \
	else echo "classifier: $(POSTS) not found; no default classifier (the lexicon flags alone)"; fi

$(CLASSIFIER)/model.json: $(CLASSIFIER_LABELS) probes/lexicons/flagged.yaml probes/lexicons/negative_predicates.yaml probes/lexicons/pair_rules.yaml $(wildcard probes/groups/*.yaml)
	$(MAKE) classifier

test: install-test $(CLASSIFIER)/model.json
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) reports/demo
