# The two Quick start commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# `make test PYTEST_ARGS='-n 2'` runs the suite in two processes (pytest-xdist, about
# half the time); the default stays serial: one two-process run hung near its end.
PYTEST_ARGS ?=
CONFIG ?= config/ivr211.sample.toml

.PHONY: run demo test venv install install-test system-test-deps lint typecheck dialplan-lint pytest fuzz-nightly prompts clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP) system-test-deps

## run: install, prepare the database, and run the line's services on SQLite
run: install
	IVR211_CONFIG=$(CONFIG) $(BIN)/ivr211 db upgrade
	IVR211_CONFIG=$(CONFIG) $(BIN)/ivr211 serve

## demo: try the line without a PBX: a demonstration database (var/demo, never the
## configured one) with a year of made-up calls, one account per role (passwords printed
## once), the dashboard on 127.0.0.1:8212 and a live line replayed from recordings
demo: install
	IVR211_CONFIG=$(CONFIG) $(BIN)/ivr211 demo

## Debian packages the tests need: a PostgreSQL server (the suite starts its own),
## chromium and chromium-driver (browser tests),
## espeak-ng and sox for the prompt audio. Installed only when missing.
system-test-deps:
	@bash tools/install-system-deps.sh

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(TEST_STAMP)
	$(BIN)/mypy ivr agi_scripts ivr211 listener store research dashboard

dialplan-lint: $(TEST_STAMP)
	$(BIN)/python tools/lint_dialplan.py asterisk_conf/extensions.conf

pytest: install-test
	$(BIN)/pytest --durations=10 $(PYTEST_ARGS)

## test: install the test dependencies and run every check and the whole suite
test: install-test lint typecheck dialplan-lint pytest

## fuzz-nightly: the parsers' fuzz tests with the "nightly" hypothesis profile (6,000
## inputs each, over 100,000 in all; tests/conftest.py); `make test` runs them small ("ci")
FUZZ_TESTS := tests/agi/test_agi_fuzz.py tests/listener/test_ami_fuzz.py \
	tests/listener/test_cel_fuzz.py tests/voicemail/test_message_info_fuzz.py
fuzz-nightly: install-test
	HYPOTHESIS_PROFILE=nightly $(BIN)/pytest -q --hypothesis-show-statistics $(FUZZ_TESTS)

## prompts: generate the 8 kHz prompt audio for both languages (espeak-ng + sox)
prompts: install system-test-deps
	$(BIN)/python tools/make_prompts.py --out sounds/generated

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
