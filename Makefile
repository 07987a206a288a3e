# TaskHub: `make run` serves a seeded demo (TASKHUB_SEEDS=none: an empty installation);
# `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export TASKHUB_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test lint translations messages install install-test clean constraints offline-bundle

# Dependencies at the versions in constraints.txt (the tested ones), from the package index, or
# with OFFLINE=path/to/taskhub-offline-<version>.tar.gz (`make offline-bundle`) from that
# archive's wheels alone: no network at all.
CONSTRAINTS := constraints.txt
OFFLINE ?=
ifneq ($(strip $(OFFLINE)),)
WHEELHOUSE := $(VENV)/offline/wheelhouse
PIP_FROM := --no-index --find-links $(WHEELHOUSE)
endif
PIP_INSTALL = $(BIN)/python -m pip install --quiet $(PIP_FROM)
PIN := $(if $(wildcard $(CONSTRAINTS)),-c $(CONSTRAINTS))

$(BIN)/python: | $(WHEELHOUSE)
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip

ifneq ($(strip $(OFFLINE)),)
$(WHEELHOUSE): $(OFFLINE)
	rm -rf $(VENV)/offline && mkdir -p $(VENV)/offline
	tar -xzf $(OFFLINE) -C $(VENV)/offline --strip-components=1
	test -d $@ || { echo "$(OFFLINE) is not a TaskHub offline bundle (no wheelhouse/)"; exit 1; }
	touch $@
endif

# Reinstall whenever pyproject.toml or the pinned versions change.
$(VENV)/.installed: pyproject.toml $(wildcard $(CONSTRAINTS)) | $(BIN)/python $(WHEELHOUSE)
	$(PIP_INSTALL) $(PIN) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(wildcard $(CONSTRAINTS)) | $(BIN)/python $(WHEELHOUSE)
	$(PIP_INSTALL) $(PIN) -e '.[test]'
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
# The browser tests share one live site per process, so they run in one process of their own,
# in a fixed order (their state then never depends on how xdist split the files).
test: install-test translations
	TASKHUB_TEST_DATABASE_URL= $(BIN)/pytest $(XDIST) --ignore=tests/browser $(PYTEST_ARGS)
	TASKHUB_TEST_DATABASE_URL= $(BIN)/pytest tests/browser $(PYTEST_ARGS)
	@if [ -n "$$TASKHUB_TEST_DATABASE_URL" ]; then \
		echo "== again on $$TASKHUB_TEST_DATABASE_URL =="; \
		$(BIN)/pytest $(XDIST) $(PYTEST_ARGS); \
	fi

lint: install-test
	$(BIN)/ruff check taskhub tests
	$(BIN)/ruff format --check taskhub tests
	$(BIN)/mypy

# After changing the dependencies in pyproject.toml: `make install-test constraints` pins what
# the virtualenv now holds (review the diff; to move every package to its newest release, move
# constraints.txt away, `make clean install-test constraints`, and run the tests).
constraints: install-test
	{ sed -n '/^#/p' $(CONSTRAINTS) 2>/dev/null; $(BIN)/python -m pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

# One archive that installs TaskHub where there is no network: the wheels of every dependency
# at the pinned versions, pip and setuptools (to install the checkout), the TaskHub wheel and
# constraints.txt. Build it on the target's Debian release and Python (wheels are per
# platform); OFFLINE_EXTRAS=test adds the test tools. Then on the target, in the checkout:
# `make install translations OFFLINE=taskhub-offline-<version>.tar.gz`.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
OFFLINE_EXTRAS ?=
BUNDLE ?= dist/taskhub-offline-$(VERSION).tar.gz
BUNDLE_WORK ?= $(VENV)/bundle
BUNDLE_NAME := taskhub-offline-$(VERSION)
offline-bundle: | $(BIN)/python
	rm -rf $(BUNDLE_WORK) build && mkdir -p $(BUNDLE_WORK)/$(BUNDLE_NAME)/wheelhouse
	$(BIN)/python -m pip wheel --quiet $(PIN) -w $(BUNDLE_WORK)/$(BUNDLE_NAME)/wheelhouse \
		'.$(if $(OFFLINE_EXTRAS),[$(OFFLINE_EXTRAS)])' pip 'setuptools>=77'
	cp $(CONSTRAINTS) $(BUNDLE_WORK)/$(BUNDLE_NAME)/
	mkdir -p $(dir $(BUNDLE))
	tar -czf $(BUNDLE) -C $(BUNDLE_WORK) $(BUNDLE_NAME)
	rm -rf $(BUNDLE_WORK)
	@echo "$(BUNDLE): $$(tar -tzf $(BUNDLE) | grep -c '\.whl$$') wheels"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
