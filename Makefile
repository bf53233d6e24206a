# Two commands do all the set-up on a fresh machine (see README):
#   make demo   export the packaged all-MiniLM-L6-v2, serve it on the embedded Triton, query it
#   make test   run the test suite (make test-fast: the unit tier alone, no torch, no server)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-large lint clean

install: $(STAMP)

$(STAMP): pyproject.toml core/pyproject.toml client/pyproject.toml bench/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -c constraints.txt \
		-e ./client -e "./core[export,serve,gateway]" -e ./bench --group dev
	touch $@

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# Tests that download a base-size model (about 400 MB) run only with `make test-large`.
test: $(STAMP)
	$(BIN)/python -m pytest -m "not large_model" $(PYTEST_ARGS)

test-large: $(STAMP)
	$(BIN)/python -m pytest -m large_model $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
