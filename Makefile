# Two commands for a newcomer: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all bench lint clean

install: $(STAMP)

# Pinned torch==2.13.0 resolves to the local CPU wheel on these machines; the stamp makes
# re-running `make` cheap and re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/selfimprove run configs/demo.yaml

# The default suite: everything but tests marked slow (it still trains real models end to end).
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

test-all: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: install
	$(BIN)/python -m pip install --quiet -e '.[hf]'
	$(BIN)/python benchmarks/throughput.py

lint: install
	$(BIN)/ruff check selfimprove tests benchmarks scripts

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
