# hubbub: `make serve` runs the server on the embedded store, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
DATA ?= data
PORT ?= 8765
ADMIN_PORT ?= 8766
POLICY ?= single

.PHONY: serve test check install lint typecheck bench load protocol-doc wire-schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/hubbub serve --data-dir $(DATA) --port $(PORT) --admin-port $(ADMIN_PORT) --policy $(POLICY)

test: check
	$(BIN)/python -m pytest -q

# lint, types and import contracts; `make test` runs them before any test
check: lint typecheck

LINTED := actors gateway hubbub_client tests scripts

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy $(LINTED)

protocol-doc: $(STAMP)
	$(BIN)/python scripts/gen_protocol_doc.py > docs/protocol.md

wire-schema: $(STAMP)
	$(BIN)/python scripts/gen_wire_schema.py > docs/wire.schema.json

load: $(STAMP)
	$(BIN)/python scripts/load.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info .mypy_cache .ruff_cache .import_linter_cache .grimp_cache
