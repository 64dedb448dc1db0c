# The verbs a person needs. Every target sets up its own virtualenv from pinned requirements.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready
TOOLS  := .venv-tools
TOOLS_READY := $(TOOLS)/.ready

.PHONY: check test demo bench lint lock clean tools

# `make check`: the product's unit tests and the contract checks of template.yaml and the ASL; nothing here starts
# the embedded runtime (tests/localaws/, statemachine/test_state_machine.py, e2e/, hardening/ and the operator
# tests, which run stacks on it, are in `make test`).
CHECK_TESTS := tests/unit tests/statemachine/test_definition_contract.py --ignore=tests/unit/test_operator_cli.py
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --allow-unsafe --strip-extras \
               --no-emit-index-url --no-emit-find-links

$(READY): requirements/dev.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(READY)

# The reference implementation (aws cloudtrail validate-logs) in its own virtualenv, apart from the product's pins.
$(TOOLS_READY): requirements/tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/tools.txt
	touch $(TOOLS_READY)

## tools: the pinned awscli for the validate-logs cross-check (tests and bench use it)
tools: $(TOOLS_READY)

## check: the developer loop, under a minute: ruff, mypy, cfn-lint, product unit tests, template and ASL contracts
check: lint
	$(BIN)/python -m pytest $(CHECK_TESTS)

## test: lint, type-check, cfn-lint the template and run every test (unit, state machine, end to end)
test: lint $(TOOLS_READY)
	$(BIN)/python -m pytest

## lint: ruff, mypy and cfn-lint
lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

## demo: generate a small organization's logs and run the nightly flow for consecutive nights, offline
demo: $(READY)
	$(BIN)/trailkeeper local demo --out out/demo

## bench: print the planning, state-transition, pruning and cost figures
bench: $(READY) $(TOOLS_READY)
	$(BIN)/python -m benchmarks

## lock: recompile the pinned lock files from requirements/*.in (functions/requirements.txt ships to Lambda)
lock: $(READY)
	$(PIP_COMPILE) --output-file functions/requirements.txt requirements/functions.in
	$(PIP_COMPILE) --output-file requirements/dev.txt requirements/dev.in
	$(PIP_COMPILE) --output-file requirements/tools.txt requirements/tools.in

clean:
	rm -rf $(VENV) $(TOOLS) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
