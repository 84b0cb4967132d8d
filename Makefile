# One command runs the product on demo data (make run), one runs the tests (make test).
# Both install what they need into .venv first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432
REDIS_TEST_URL ?= redis://127.0.0.1:6379/0

.PHONY: setup run test test-sqlite test-postgres lint bench migrate demo clean

$(VENV)/.installed: requirements.txt client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet -e ./client  # the notebook client (its live-server test)
	touch $@

# The browser's chart library (lightweight-charts) from the npm registry, exactly as
# package-lock.json pins it; again only when the lock is newer than the installed copy.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 18+ with npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

setup: $(VENV)/.installed node_modules/.installed

migrate: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py migrate --database secmaster --noinput

## run: migrate both databases, load demo data when the security master is empty, create a
## local user if none exists, then serve the site and a task worker until Ctrl-C.
run: migrate
	$(PY) manage.py make_demo_data --if-empty
	$(PY) manage.py ensure_local_user
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py serve --host $(HOST) --port $(PORT)

## test: lint, then the whole suite on SQLite files (browser and worker tests included).
test: setup
	bash .ci/install-browser
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

## test-postgres: the suite again as a team deploys it: both databases on the local PostgreSQL
## server, tasks on the local Redis (a queue name of this run's own).
test-postgres: setup
	DATABASE_URL=$(PG_URL)/ost SECMASTER_DATABASE_URL=$(PG_URL)/ost_secmaster \
		REDIS_URL=$(REDIS_TEST_URL) OST_QUEUE_NAME=ost-test-$$$$ \
		$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/backtest.py

clean:
	rm -rf $(VENV) node_modules test_*.db test_*.db-wal test_*.db-shm
