# Chat Lab's two commands:  `make run` (set up and start the app), `make test` (set up and test).
# Both create .venv on first use and reinstall only when a requirements file changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test lint bench browser database clean

$(VENV)/.app-installed: requirements.txt scripts/ensure-llama-cpp
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	bash scripts/ensure-llama-cpp $(PY)
	$(PY) -m pip install -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.app-installed requirements-dev.txt
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

run: $(VENV)/.app-installed
	$(VENV)/bin/streamlit run app.py

# Browser tests need Debian's chromium; scripts/ensure-chromium installs it when it can.
browser:
	bash scripts/ensure-chromium

# The PostgreSQL tests start their own server from Debian's binaries (scripts/ensure-postgresql).
database:
	bash scripts/ensure-postgresql

test: $(VENV)/.dev-installed browser database
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff over everything (line length 100, pyproject.toml), mypy over the library.
lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m mypy chatlib

bench: $(VENV)/.dev-installed browser
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
