# The verbs a person needs. Every target sets up its own virtualenv from pinned requirements.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready

.PHONY: test demo bench lint clean

$(READY): requirements-dev.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(READY)

## test: lint, type-check, cfn-lint the template and run every test (unit, state machine, end to end)
test: lint
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
bench: $(READY)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
