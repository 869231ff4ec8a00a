# `make test` and `make demo` create .venv and install galfm into it on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The local CPU build of torch; a GPU machine can override: make TORCH_SPEC="torch>=2.4,<2.15" test
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install test demo demo-quick release lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# The shipped pretrained model and heads (pretrained/<name>) go into the Hugging Face cache as org/<name>, so
# AutoModel.from_pretrained("org/galfm") works offline. Idempotent: placing the same files twice is a no-op.
install: $(STAMP)
	$(BIN)/galfm install-pretrained pretrained

test: install
	$(BIN)/python -m pytest -q tests

demo: install
	$(BIN)/galfm demo --out demo_output

demo-quick: install
	$(BIN)/galfm demo --quick --out demo_output_quick

# Remake the shipped models with the project's own commands (about half an hour on 2 CPU cores: 28 min measured), then `make install`.
release: $(STAMP)
	$(BIN)/galfm release --out pretrained --work release_work

lint: $(STAMP)
	$(BIN)/ruff check .

# The API reference from the docstrings (mkdocs + mkdocstrings, strict: a warning fails the build) into site/.
# galfm's package is assembled from several folders (pyproject's package-dir); griffe reads them linked into one.
docs: $(STAMP)
	rm -rf build/api_src && mkdir -p build/api_src/galfm
	ln -s $(CURDIR)/modeling/*.py build/api_src/galfm/
	ln -s $(CURDIR)/datasets_scripts $(CURDIR)/training build/api_src/galfm/
	$(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_inference.py
	$(BIN)/python benchmarks/bench_simulator.py

clean:
	rm -rf $(VENV) demo_output demo_output_quick release_work .pytest_cache build site
