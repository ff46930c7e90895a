# Two entry points for a fresh Debian/Ubuntu machine with Python 3.11:
#   make run   - set up, start local SecantusDB + Redis when needed, run web, worker, clock
#                and a fake Shopify store to sync from (http://127.0.0.1:8800/shops/mystore)
#   make test  - set up, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint pytest services stop-services clean bench

$(STAMP): pyproject.toml
	./scripts/bootstrap.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# Procfile.dev = the Procfile's web, worker and clock on loopback, plus a demo Shopify store
# that signs its webhooks with the same development client secret.
PORT ?= 8000
run: export SHOPSYNC_PUBLIC_URL ?= http://127.0.0.1:$(PORT)
run: export SHOPIFY_CLIENT_SECRET ?= demo-client-secret
run: export SHOPIFY_CLIENT_ID ?= demo-client-id
run: export SHOPSYNC_SHOPIFY_ADMIN_URL ?= http://127.0.0.1:8800/shops/{shop}
run: $(STAMP)
	$(BIN)/python scripts/local_services.py start
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile.dev -p $(PORT)

services: $(STAMP)
	$(BIN)/python scripts/local_services.py start

stop-services:
	$(BIN)/python scripts/local_services.py stop

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Most tests wait on processes and I/O, so two at once (one file per xdist worker, each with
# its own SecantusDB, Redis and fake Shopify) halve the wall time; the timing-sensitive ones
# (marked serial) run alone afterwards. Files go out in the suite's order, the slowest first
# (tests/conftest.py SLOWEST_FILES), so both workers finish together; xdist's own reorder
# sends files with many tests first, which left the slow end-to-end files for the end.
pytest: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not serial"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -m serial

test: lint pytest

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.sync_throughput
