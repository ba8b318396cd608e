# Two commands for a newcomer: `make demo` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test check lint typecheck unit crds diagram demo clean system-deps

# Create the virtualenv when missing and (re)install when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: install what the tests need, then lint, type-check and run every test.
test: $(STAMP) system-deps
	$(MAKE) check

## Programs the tests need from Debian: Graphviz `dot` (state diagram as SVG/PNG) and
## `prometheus` (the end-to-end tests of the prometheus metric provider start one).
## Installed with apt-get when missing and running as root; otherwise say what to install.
system-deps:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz; \
	  else echo "missing: Graphviz 'dot' (Debian package graphviz); install it and rerun" >&2; exit 1; fi; }
	@command -v prometheus >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; \
	  else echo "missing: 'prometheus' (Debian package prometheus); install it and rerun" >&2; exit 1; fi; }

## make check: the same as `make test` without the install step.
check: lint typecheck unit

lint:
	$(BIN)/ruff check rollout tests
	$(BIN)/ruff format --check rollout tests
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

## The suite runs on every core (at most 4 workers): the end-to-end tests mostly wait on
## processes and HTTP, so two workers halve its time on a 2-core machine.
unit:
	$(BIN)/pytest -q -n auto --maxprocesses 4

## make crds: regenerate crds/ from the resource models.
crds:
	$(BIN)/rollout crds --write crds

## make deploy: regenerate deploy/ (namespace, RBAC, controller, NetworkPolicy) from
## rollout/platforms/kubernetes/manifests.py; a test fails when it drifts.
.PHONY: deploy
deploy:
	$(BIN)/rollout install --write deploy

## make diagram: redraw docs/release-states.svg from the transitions table (needs Graphviz `dot`).
diagram:
	$(BIN)/rollout diagram --format svg -o docs/release-states.svg

## make demo: the one-command tour — two versions of a service running for real behind
## the local proxy, live traffic, a bad version rolled back and a good one promoted.
demo: $(STAMP)
	$(BIN)/rollout demo

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
