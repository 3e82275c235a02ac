# TaskHub: `make run` serves the app with demo data; `make test` runs every test.
# Both create the virtual environment (.venv) and install requirements.txt first.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run prod test lint venv migrate seed serve clean bench bench-sockets bench-browser stress openapi-lint

venv: $(STAMP)

$(STAMP): requirements.txt
	@if [ ! -x $(PY) ]; then \
		python=$$(scripts/find-python) || exit 1; \
		echo "Creating $(VENV) with $$python"; \
		"$$python" -m venv $(VENV) || { echo "Could not create a virtual environment: install the venv module (Debian: apt-get install python3.12-venv)." >&2; exit 1; }; \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@echo "Serving TaskHub (HTTP and WebSockets) on http://$(HOST):$(PORT)/  (API docs: /api/v1/docs, admin: /admin/)"
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) taskhub.asgi:application

# The production set on one port (deploy/): nginx in front of granian (the API, the admin, the docs)
# and uvicorn (/ws/), DEBUG off, in the foreground until Ctrl-C. Needs nginx (Debian's package),
# DATABASE_URL and REDIS_URL; HOST and PORT as for `make run`.
prod: venv
	HOST=$(HOST) PORT=$(PORT) $(PY) deploy/prod.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

test: lint
	$(VENV)/bin/pytest

# The OpenAPI document as client generators and linters read it (needs npm): Redocly's
# recommended rules and Spectral's spectral:oas ruleset (.spectral.yaml).
OPENAPI_JSON := $(VENV)/openapi.json
openapi-lint: venv
	$(PY) manage.py export_openapi_schema --api taskhub.api.api --indent 1 --output $(OPENAPI_JSON)
	npx --yes @redocly/cli@2.77.0 lint $(OPENAPI_JSON)
	npx --yes @stoplight/spectral-cli@6.16.3 lint --ruleset .spectral.yaml $(OPENAPI_JSON)

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	@touch $(BENCH_STAMP)

# Needs PostgreSQL and Redis on this machine (BENCH_ARGS passes options to bench/run.py).
# Then 5 000 subscribed sockets on the WebSocket workers (bench/sockets.py; SOCKETS_ARGS passes options).
bench: $(BENCH_STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/sockets.py $(SOCKETS_ARGS)

bench-sockets: $(BENCH_STAMP)
	$(PY) bench/sockets.py $(SOCKETS_ARGS)

# The board client in headless Chromium: 1 000 cards shown, and a remote move's delay (needs
# PostgreSQL, Redis and Debian's chromium; BROWSER_BENCH_ARGS passes options to bench/browser.py).
bench-browser: $(BENCH_STAMP)
	$(PY) bench/browser.py $(BROWSER_BENCH_ARGS)

# Needs PostgreSQL and Redis on this machine. The long tests (pytest -m stress: schemathesis,
# WebSocket fuzzing, 50 concurrent writers), then the 10-minute soak (SOAK_ARGS passes options
# to bench/soak.py, e.g. SOAK_ARGS="--duration 180" for a short one).
STRESS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/taskhub
STRESS_REDIS_URL ?= redis://127.0.0.1:6379/15
stress: $(BENCH_STAMP)
	DATABASE_URL=$(STRESS_DATABASE_URL) REDIS_URL=$(STRESS_REDIS_URL) $(VENV)/bin/pytest -m stress -s -p no:cacheprovider
	$(PY) bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm
