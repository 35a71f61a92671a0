# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
POUCHDB := node_modules/.bin/pouchdb-server

.PHONY: setup run test bench clean

setup: $(VENV)/.installed $(POUCHDB)

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(POUCHDB): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/kazoo-vm dev

test: setup
	$(BIN)/pytest -q $(PYTEST_ARGS)

# the chart needs matplotlib: the `bench` extra, installed on first use
$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

# BENCH_TARGET=pouchdb|couchdb|cluster|URL (default: KAZOO_VM_COUCHDB_URL, else pouchdb)
bench: setup $(VENV)/.bench-installed
	$(BIN)/python -m bench $(if $(BENCH_TARGET),--target $(BENCH_TARGET)) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules var *.egg-info build dist
