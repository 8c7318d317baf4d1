# msgbuffer: `make run` starts everything, `make test` runs the whole suite, `make lint` checks
# the code. They bootstrap .venv from the hashed lock files on first use (Python 3.11+ is
# all they need); `make lock` regenerates those from the hand-edited requirements*.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: run test lint lock bench fuzz install install-test clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "msgbuffer needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# --require-hashes: exactly the files the lock names, dependencies of dependencies included.
$(VENV)/.installed-run: requirements-run.lock | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-run.lock
	touch $@

$(VENV)/.installed-test: requirements-test.lock | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-test.lock
	touch $@

install: $(VENV)/.installed-run
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/python -m msgbuffer_site.launch

test: install-test
	$(BIN)/python -m pytest $(ARGS)

# Configured in pyproject.toml.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Each lock is resolved within the one before it (-c), so the production image, `make run`
# and the tests share every version. uv keeps the versions already locked unless told
# otherwise (make lock ARGS=--upgrade, or ARGS="--upgrade-package django"). uv is installed
# from its pin in requirements-test.txt, not from a lock, so a stale or conflicted lock
# cannot stop its own regeneration. It reads PyPI, not this machine's pip configuration,
# so the hashes are those every machine is served; --universal resolves for every platform
# (the image may be arm64, a laptop macOS).
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(ARGS)
lock: | $(BIN)/python
	@! grep -l '^<<<<<<< ' requirements*.lock || { echo "merge conflict in the lock(s) above: take either side" \
		"(git checkout --theirs FILE), then make lock again: uv re-resolves from the requirements*.txt" >&2; exit 1; }
	$(BIN)/pip install -q "$$(grep -o '^uv==[^ ]*' requirements-test.txt)"
	$(UV_COMPILE) --output-file requirements.lock requirements.txt
	$(UV_COMPILE) --constraint requirements.lock --output-file requirements-run.lock requirements-run.txt
	$(UV_COMPILE) --constraint requirements-run.lock --output-file requirements-test.lock requirements-test.txt

bench: install-test
	$(BIN)/python -m bench $(ARGS)

# schemathesis against /openapi.json, every check on, DEBUG off, keys required (bench/fuzz.py)
fuzz: install-test
	$(BIN)/python -m bench.fuzz $(ARGS)

clean:
	rm -rf $(VENV) .venv-fuzz var staticfiles .pytest_cache
