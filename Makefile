# The verbs a person needs. Every target sets up its own virtualenv from pinned requirements.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready
# Deploy tooling lives apart from .venv: the AWS SAM CLI (locked in requirements/sam.txt), the functions'
# runtime Python (python3.13, as template.yaml's Runtime) with the test requirements, AWS's ASL language service,
# and the reference implementation of log validation (awscli's `aws cloudtrail validate-logs`, requirements/tools.txt).
TOOLS     := .tools
SAM_VENV  := $(TOOLS)/sam
SAM       := $(SAM_VENV)/bin/sam
RUNTIME_VENV := $(TOOLS)/runtime
ASL_TOOLS := $(TOOLS)/asl
# The functions' runtime Python: the first python3.13 that runs, on PATH or under pyenv (PY313=... overrides).
# (A pyenv shim on PATH may exist and still refuse to run, so each candidate is tried.)
PY313 ?= $(shell for p in $$(command -v python3.13) $(HOME)/.pyenv/versions/3.13*/bin/python3.13; do \
           "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$p"; break; }; done)
NODE  := $(shell command -v node 2>/dev/null)
export SAM_CLI_TELEMETRY := 0

AWSCLI_VENV := $(TOOLS)/awscli

.PHONY: check test demo bench lint format lock clean build validate asl-tools runtime-check tools named-queries

# `make check`: the product's unit tests and the contract checks of template.yaml and the ASL; nothing here starts
# the embedded runtime (tests/localaws/, statemachine/test_state_machine.py, e2e/, hardening/, the operator tests and
# the benchmark's runtime sections, which run stacks on it, are in `make test`).
CHECK_TESTS := tests/unit tests/statemachine/test_definition_contract.py tests/statemachine/test_mock_config_contract.py --ignore=tests/unit/test_operator_cli.py \
               --ignore=tests/unit/test_benchmark_runtime_sections.py
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --allow-unsafe --strip-extras \
               --no-emit-index-url --no-emit-find-links

$(READY): requirements/dev.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(READY)

$(SAM_VENV)/.ready: requirements/sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/sam.txt
	touch $@

$(ASL_TOOLS)/.ready: tools/asl/package.json tools/asl/package-lock.json
	mkdir -p $(ASL_TOOLS)
	cp tools/asl/package.json tools/asl/package-lock.json $(ASL_TOOLS)/
	cd $(ASL_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(RUNTIME_VENV)/.ready: requirements/dev.txt
	$(PY313) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

# The reference implementation (aws cloudtrail validate-logs) in its own virtualenv, apart from the product's pins.
$(AWSCLI_VENV)/.ready: requirements/tools.txt
	$(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/tools.txt
	touch $@

## tools: the pinned awscli for the validate-logs cross-check (tests and bench use it)
tools: $(AWSCLI_VENV)/.ready

## check: the developer loop, under a minute: ruff, mypy, cfn-lint, product unit tests, template and ASL contracts
check: lint
	$(BIN)/python -m pytest $(CHECK_TESTS)

## test: lint, type-check, cfn-lint and sam validate the template, run every test, then build and check the artifact
test: lint validate asl-tools tools
	$(BIN)/python -m pytest
	$(MAKE) runtime-check

## lint: ruff (lint and format check), mypy and cfn-lint
lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

## format: rewrite the Python sources in the project's one style (lint checks it)
format: $(READY)
	$(BIN)/ruff format .

## validate: sam validate --lint with the pinned AWS SAM CLI
validate: $(SAM_VENV)/.ready
	$(SAM) validate --lint

## asl-tools: install AWS's ASL language service (pinned) for the ASL test; skipped without Node.js
asl-tools:
ifeq ($(NODE),)
	@echo "SKIPPED asl-tools: Node.js is not installed (the ASL language-service test skips too)"
else
	@$(MAKE) --no-print-directory $(ASL_TOOLS)/.ready
endif

## build: sam build with the functions' runtime Python (python3.13), then import every handler from the artifact
build: $(SAM_VENV)/.ready $(READY) $(RUNTIME_VENV)/.ready
	@test -n "$(PY313)" || { echo "python3.13 not found (the functions' runtime): install it, or set PY313=/path/to/python3.13"; exit 1; }
	PATH="$(dir $(PY313)):$$PATH" $(SAM) build
	$(BIN)/python tools/check_build.py $(RUNTIME_VENV)/bin/python .aws-sam/build

## runtime-check: `make build`, and the functions' unit tests under python3.13; skipped where it is absent
runtime-check:
ifeq ($(PY313),)
	@echo "SKIPPED runtime-check: python3.13 (the functions' runtime) is not installed; set PY313=... to run it"
else
	$(MAKE) --no-print-directory build $(RUNTIME_VENV)/.ready
	$(RUNTIME_VENV)/bin/python -m pytest $(CHECK_TESTS) -p no:cacheprovider
endif

## demo: generate a small organization's logs and run the nightly flow for consecutive nights, offline
demo: $(READY)
	$(BIN)/trailkeeper local demo --out out/demo

## bench: print the planning, state-transition, pruning and cost figures
bench: $(READY) tools
	$(BIN)/python -m benchmarks

## named-queries: regenerate template.yaml's saved Athena queries from the detection catalog
named-queries: $(READY)
	$(BIN)/python -m trailkeeper.detections.named_queries template.yaml

## lock: recompile the pinned lock files from requirements/*.in (functions/requirements.txt ships to Lambda)
lock: $(READY)
	$(PIP_COMPILE) --output-file functions/requirements.txt requirements/functions.in
	$(PIP_COMPILE) --output-file requirements/dev.txt requirements/dev.in
	$(PIP_COMPILE) --output-file requirements/sam.txt requirements/sam.in
	$(PIP_COMPILE) --output-file requirements/tools.txt requirements/tools.in

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam out .pytest_cache .mypy_cache .ruff_cache .hypothesis
