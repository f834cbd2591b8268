# hubbub: `make serve` runs the server on the embedded store, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
DATA ?= data
PORT ?= 8765
ADMIN_PORT ?= 8766
POLICY ?= single
STORE ?=
WORKERS ?= 2
BUS ?=
# pytest processes of `make test` (pytest-xdist): the suite mostly waits on sockets, so more processes than cores
TEST_WORKERS ?= 4

.PHONY: serve cluster test test-postgres test-cluster-e2e check install lint typecheck bench load protocol-doc wire-schema clean web-install test-web-client web chromium ejabberd bench-ejabberd

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The demo sign-in is safe here: the admin listener (which serves the app) is on loopback.
serve: $(STAMP)
	@$(MAKE) --no-print-directory web || echo "make: serving without the web app (building it needs Node.js 20+ and npm)"
	$(BIN)/hubbub serve --data-dir $(DATA) --port $(PORT) --admin-port $(ADMIN_PORT) --policy $(POLICY) --demo-signin $(if $(STORE),--store '$(STORE)')

# N nodes behind one port on this machine (README "Every core"); needs STORE=postgresql://...
cluster: $(STAMP)
	@test -n "$(STORE)" || { echo "make cluster: set STORE=postgresql://... (the nodes share one store)"; exit 2; }
	$(BIN)/hubbub serve --data-dir $(DATA) --port $(PORT) --admin-port $(ADMIN_PORT) --policy $(POLICY) --store '$(STORE)' --workers $(WORKERS) $(if $(BUS),--bus '$(BUS)')

test: check test-web-client web chromium ejabberd
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)
	@$(MAKE) --no-print-directory test-cluster-e2e

# the end-to-end tests again, each server three in-process nodes on PostgreSQL and Redis (tests/cluster_servers.py)
test-cluster-e2e: $(STAMP)
	HUBBUB_TEST_STORE=cluster $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# the in-process server tests again, each server on a PostgreSQL database of its own
test-postgres: $(STAMP)
	HUBBUB_TEST_STORE=postgres $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# lint, types and import contracts; `make test` runs them before any test
check: lint typecheck

LINTED := actors gateway hubbub_client tests scripts

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/lint-imports --no-logo

# The web packages (web/: @hubbub/client, the browser app): npm ci from the one lock file.
WEB_STAMP := web/node_modules/.installed
$(WEB_STAMP): web/package.json web/package-lock.json $(wildcard web/*/package.json)
	@command -v npm >/dev/null || { echo "make: the web packages need Node.js 20+ and npm: apt-get install -y nodejs npm"; exit 1; }
	cd web && npm ci --no-audit --no-fund
	touch $@

web-install: $(WEB_STAMP)

# @hubbub/client: build (types generated from docs/wire.schema.json), then its Node tests against a live `hubbub serve`.
test-web-client: $(STAMP) $(WEB_STAMP)
	cd web/client && HUBBUB_BIN=$(abspath $(BIN))/hubbub npm test --silent

# The browser app, built into web/app/dist (which `hubbub serve` serves at /app/); the client
# library is built first: the app bundles it.
APP_BUILD := web/app/dist/index.html
# (wire.gen.ts is rewritten by every client build; docs/wire.schema.json stands for it)
APP_SOURCES := $(filter-out %/wire.gen.ts,$(shell find web/app/src web/client/src web/client/scripts -type f 2>/dev/null)) \
	web/app/index.html web/app/vite.config.ts web/app/tsconfig.json web/app/package.json docs/wire.schema.json
$(APP_BUILD): $(WEB_STAMP) $(APP_SOURCES)
	cd web && npm run build --silent -w @hubbub/client && npm run build --silent -w @hubbub/app

web: $(APP_BUILD)

# Debian's Chromium for the browser tests (a test tool's own browser download cannot work here).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "make: the browser tests need Chromium at $(CHROMIUM): run  sudo apt-get install -y chromium"; exit 1; \
	  fi; \
	fi

# Debian's ejabberd for the side-by-side benchmark's smoke test (scripts/bench_ejabberd starts its own
# on loopback with its own config; the packaged service is stopped and disabled, so nothing else listens).
# erlang-p1-sqlite3 lets it keep ejabberd's archive in SQLite too (one of the compared configurations).
EJABBERD_APP := $(firstword $(wildcard /usr/lib/*/ejabberd-*/ebin/ejabberd.app))
EJABBERD_SQLITE := $(firstword $(wildcard /usr/lib/erlang/lib/p1_sqlite3-*/ebin/sqlite3.app))
ejabberd:
	@if [ -z "$(EJABBERD_APP)" ] || [ -z "$(EJABBERD_SQLITE)" ] || [ ! -x /usr/bin/erl ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing Debian's ejabberd for the side-by-side benchmark"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ejabberd erlang-p1-sqlite3 >/dev/null; \
	    if [ -x /etc/init.d/ejabberd ]; then /etc/init.d/ejabberd stop >/dev/null 2>&1 || true; fi; \
	    if command -v systemctl >/dev/null; then systemctl disable ejabberd >/dev/null 2>&1 || true; fi; \
	  else \
	    echo "make: the side-by-side benchmark's test needs ejabberd: run  sudo apt-get install -y ejabberd erlang-p1-sqlite3"; exit 1; \
	  fi; \
	fi

bench-ejabberd: $(STAMP) ejabberd
	$(BIN)/python -m scripts.bench_ejabberd

typecheck: $(STAMP)
	$(BIN)/mypy $(LINTED)

protocol-doc: $(STAMP)
	$(BIN)/python scripts/gen_protocol_doc.py > docs/protocol.md

wire-schema: $(STAMP)
	$(BIN)/python scripts/gen_wire_schema.py > docs/wire.schema.json

load: $(STAMP)
	$(BIN)/python -m scripts.load

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info .mypy_cache .ruff_cache .import_linter_cache .grimp_cache
	rm -rf web/node_modules web/client/dist web/client/.test-build web/app/dist build/screenshots
