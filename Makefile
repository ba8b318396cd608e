# Two commands for a newcomer: `make demo` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check lint typecheck unit crds demo clean

# Create the virtualenv when missing and (re)install when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: install what the tests need, then lint, type-check and run every test.
test: $(STAMP)
	$(MAKE) check

## make check: the same as `make test` without the install step.
check: lint typecheck unit

lint:
	$(BIN)/ruff check rollout tests
	$(BIN)/ruff format --check rollout tests

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/pytest -q

## make crds: regenerate crds/ from the resource models.
crds:
	$(BIN)/rollout crds --write crds

## make demo: the tour of what rollout does today — the ready policies, explained.
## (The live tour on the local platform replaces this when that platform lands.)
demo: $(STAMP)
	$(BIN)/rollout validate --explain -f policies/ examples/

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
