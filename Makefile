# The two commands a newcomer needs: `make run` and `make test`. Both install what is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HTMX   := duely/web/static/vendor/htmx.min.js
# Exact versions, with hashes, of everything make run and make test need (every extra).
LOCK   := requirements.lock
# Browser tests drive Debian's Chromium (Playwright never downloads a browser of its own).
CHROMIUM := /usr/bin/chromium
# Tests also run against PostgreSQL when a server answers here (or DUELY_TEST_POSTGRES_URL is set).
TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: install lock run test test-fast lint bench clean

install: $(STAMP) $(HTMX)
	@# duely's bytecode written ahead (only what changed): Temporal's sandbox imports a chase's
	@# workflow module afresh whenever a chase starts or comes back into a worker's cache, and an
	@# editable install with PYTHONDONTWRITEBYTECODE=1 compiled it from source each time: 7.1 ms
	@# a new chase, 2.7 ms from bytecode. (A wheel install, as in the Dockerfile, has it already.)
	@$(BIN)/python -m compileall -q duely

# Every machine gets the same versions from the lock (pip checks the hashes); duely itself then
# goes in without resolving anything, since the lock already holds its dependencies.
$(STAMP): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "duely needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Re-resolve the lock from pyproject.toml's ranges after changing a dependency. uv keeps every
# locked version that still fits, so a refresh changes only what it must; take upgrades with
# `make lock LOCK_FLAGS=--upgrade` (or `--upgrade-package NAME`). Universal (markers for other
# systems) from Python 3.11 on, so one file serves every developer's machine; uv is the locked
# one from the dev extra. The next make run or make test installs the new lock.
LOCK_FLAGS ?=
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra sandbox --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command "make lock" \
		--quiet $(LOCK_FLAGS) -o $(LOCK)

$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(dir $@)
	cp node_modules/htmx.org/dist/htmx.min.js $@

run: install
	$(BIN)/duely up

$(CHROMIUM):
	-apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# pytest, with DUELY_TEST_POSTGRES_URL set when it is not and a server answers on 5432.
PYTEST = if [ -z "$$DUELY_TEST_POSTGRES_URL" ] && $(BIN)/python -c 'import socket; socket.create_connection(("127.0.0.1", 5432), 1)' 2>/dev/null; then \
		export DUELY_TEST_POSTGRES_URL=$(TEST_POSTGRES_URL); \
	fi; \
	$(BIN)/pytest

# Every test, on both databases, on every core (pytest-xdist): each test process brings its own
# Temporal servers, mail servers, sandboxes and databases, on free ports and unique names.
test: install $(CHROMIUM)
	@$(PYTEST) -n auto

# The quick loop while working: every test but the e2e and browser ones, on SQLite only, on
# every core, with the engine model and the API fuzz at smaller budgets (`make test` runs all,
# on both databases, at full size).
test-fast: install
	@env -u DUELY_TEST_POSTGRES_URL DUELY_MODEL_CUSTOMERS=4 DUELY_FUZZ_EXAMPLES=8 \
		$(BIN)/pytest -n auto -m "not e2e and not browser"

# The type checker's settings and the modules it holds to them: pyproject.toml's [tool.mypy].
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules $(HTMX) .pytest_cache .ruff_cache
