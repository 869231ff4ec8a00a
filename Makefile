# `make test` and `make demo` create .venv and install galfm into it on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The local CPU build of torch; a GPU machine can override: make TORCH_SPEC="torch>=2.4,<2.15" test
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install test demo demo-quick lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

demo: $(STAMP)
	$(BIN)/galfm demo --out demo_output

demo-quick: $(STAMP)
	$(BIN)/galfm demo --quick --out demo_output_quick

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_inference.py
	$(BIN)/python benchmarks/bench_simulator.py

clean:
	rm -rf $(VENV) demo_output demo_output_quick .pytest_cache
