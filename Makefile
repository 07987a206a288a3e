# TaskHub: `make run` serves a seeded demo (TASKHUB_SEEDS=none: an empty installation);
# `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export TASKHUB_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test lint translations messages install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d taskhub/translations

# After changing UI strings: extract them, then translate the new entries in messages.po.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $(VENV)/messages.pot .
	$(BIN)/pybabel update -i $(VENV)/messages.pot -d taskhub/translations -l zh --no-fuzzy-matching

run: install translations
	$(BIN)/taskhub db upgrade
	$(BIN)/taskhub seed load
	$(BIN)/taskhub demo load
	$(BIN)/taskhub run --host $(HOST) --port $(PORT)

# Runs every test on SQLite, then again on PostgreSQL when TASKHUB_TEST_DATABASE_URL is set.
# pytest-xdist spreads test files over TEST_WORKERS processes (0: one process, no xdist).
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
test: install-test translations
	TASKHUB_TEST_DATABASE_URL= $(BIN)/pytest $(XDIST) $(PYTEST_ARGS)
	@if [ -n "$$TASKHUB_TEST_DATABASE_URL" ]; then \
		echo "== again on $$TASKHUB_TEST_DATABASE_URL =="; \
		$(BIN)/pytest $(XDIST) $(PYTEST_ARGS); \
	fi

lint: install-test
	$(BIN)/ruff check taskhub tests
	$(BIN)/ruff format --check taskhub tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
