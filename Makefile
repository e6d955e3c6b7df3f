# Liên Thông developer entry points. `make demo` and `make test` install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp
OIDC_STAMP := tests/oidc/node_modules/.installed-stamp
CONFORMANCE_STAMP := tests/conformance/node_modules/.installed-stamp
GRAPHIQL_MODULES := infra/graphiql/node_modules/.installed-stamp
GRAPHIQL_STAMP := gateway/graphiql/static/.built-stamp
PYTHON ?= $(shell command -v python3.11 || command -v python3)

.PHONY: help install system-deps demo test pytest lint bench bench-10m clean

help:
	@echo "make demo   - install, start the embedded database, migrate, load the sample, serve"
	@echo "make test   - install, then lint and the whole test suite"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmarks (figures printed, JSON written under .lienthong/bench)"
	@echo "make bench-10m - the HTTP bench with a 10,000,000-resident registry on its scale curve"

install: system-deps $(STAMP) $(OIDC_STAMP) $(CONFORMANCE_STAMP) $(GRAPHIQL_STAMP)

system-deps:
	@bash infra/dev/install-system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The OpenID provider the identity tests run against (npm's oidc-provider, pinned by the lock).
$(OIDC_STAMP): tests/oidc/package.json tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	@touch $(OIDC_STAMP)

# graphql-http's server audit (GraphQL over HTTP), run against a real gateway by
# tests/e2e/test_conformance.py (npm packages pinned by the lock).
$(CONFORMANCE_STAMP): tests/conformance/package.json tests/conformance/package-lock.json
	cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error
	@touch $(CONFORMANCE_STAMP)

# GraphiQL for dev (/graphiql), bundled by esbuild from npm packages pinned by the lock into
# gateway/graphiql/static/ (not committed): the gateway serves it, no CDN (docs/graphiql.md).
$(GRAPHIQL_MODULES): infra/graphiql/package.json infra/graphiql/package-lock.json
	cd infra/graphiql && npm ci --no-audit --no-fund --loglevel=error
	@touch $(GRAPHIQL_MODULES)

$(GRAPHIQL_STAMP): $(GRAPHIQL_MODULES) infra/graphiql/build.mjs infra/graphiql/index.jsx \
		infra/graphiql/lienthong.css
	cd infra/graphiql && npm run --silent build
	@touch $(GRAPHIQL_STAMP)

SAMPLE := .lienthong/sample
# The console's sign-in in the demo: the OIDC stand-in (tests/oidc) with the demo's users
OIDC_PORT ?= 8180
DEMO_CONSOLE := LIENTHONG_CONSOLE_OIDC_URL=http://127.0.0.1:$(OIDC_PORT) \
	LIENTHONG_CONSOLE_CLIENT_SECRET=demo-console-secret

demo: install
	$(BIN)/lienthong db up
	$(BIN)/lienthong db migrate
	@test -f $(SAMPLE)/residents.csv || $(BIN)/lienthong etl synth --out $(SAMPLE) \
		--residents 20000 --enterprises 1000 --parcels 2000 --seed 1
	$(BIN)/lienthong etl load residents $(SAMPLE)/residents.csv
	$(BIN)/lienthong etl load enterprises $(SAMPLE)/enterprises.csv
	$(BIN)/lienthong etl load parcels $(SAMPLE)/parcels.geojson
	$(BIN)/lienthong etl load agreements infra/sample/policy.json
	@$(PY) -c "import csv; print(next(csv.DictReader(open('$(SAMPLE)/residents.csv', encoding='utf-8')))['personal_id'])" > $(SAMPLE)/.demo-id
	@echo "The gateway is starting on http://127.0.0.1:8000. GraphiQL: http://127.0.0.1:8000/graphiql"
	@echo "(paste the token below, or one from: $(BIN)/lienthong dev token --agency motcua-danang)."
	@echo "Or try, in another shell:"
	@echo "  curl -s http://127.0.0.1:8000/graphql -H 'Content-Type: application/json' \\"
	@echo "    -H \"Authorization: Bearer $$($(BIN)/lienthong dev token --agency motcua-danang --ttl 86400)\" \\"
	@echo "    -H 'X-Purpose: CT01' \\"
	@echo "    -d '{\"query\": \"query { prefill(form: \\\"CT01\\\", subject: \\\"$$(cat $(SAMPLE)/.demo-id)\\\") { form fields { key label value missing } } }\"}'"
	@$(PY) infra/demo/users.py $(SAMPLE)/residents.csv $(SAMPLE)/oidc-users.json \
		http://127.0.0.1:8000
	@echo "(sign-in by the OIDC stand-in on 127.0.0.1:$(OIDC_PORT); its log: $(SAMPLE)/oidc.log)"
	@node tests/oidc/server.mjs $(OIDC_PORT) lienthong lienthong-gateway \
		$(CURDIR)/infra/demo/clients.json $(CURDIR)/$(SAMPLE)/oidc-users.json \
		> $(SAMPLE)/oidc.log 2>&1 & oidc=$$!; trap "kill $$oidc 2>/dev/null" EXIT; \
		$(DEMO_CONSOLE) $(BIN)/lienthong serve --workers 1

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint pytest

bench: install
	$(PY) -m bench $(BENCH_ARGS)

# Loading 10M residents through the ETL takes about half an hour: opt-in.
bench-10m: install
	$(PY) -m bench http --large=10000000 $(BENCH_ARGS)

clean:
	-$(BIN)/lienthong db down
	rm -rf $(VENV) .lienthong .pytest_cache .mypy_cache .ruff_cache gateway/graphiql/static
