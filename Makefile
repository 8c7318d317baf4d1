# msgbuffer: `make run` starts everything, `make test` runs the whole suite.
# Both bootstrap .venv from requirements*.txt on first use (Python 3.11+ is all they need).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: run test bench fuzz install install-test clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "msgbuffer needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/python -m msgbuffer_site.launch

test: install-test
	$(BIN)/python -m pytest $(ARGS)

bench: install-test
	$(BIN)/python -m bench $(ARGS)

# schemathesis against /openapi.json, every check on, DEBUG off, keys required (bench/fuzz.py)
fuzz: install-test
	$(BIN)/python -m bench.fuzz $(ARGS)

clean:
	rm -rf $(VENV) .venv-fuzz var staticfiles .pytest_cache
