# Two commands for a newcomer: `make demo` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: `make demo` and `make install` need rollout and its dependencies only
# (RUN_STAMP); `make test` also the test tools (STAMP, which implies RUN_STAMP, so a
# `make demo` after `make test` installs nothing).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# `make install` links $(PREFIX)/bin/rollout to the virtualenv's command.
PREFIX ?= $(HOME)/.local

.PHONY: test check lint typecheck unit crds diagram demo install uninstall clean system-deps

# Create the virtualenv when missing and (re)install when pyproject.toml changes.
$(RUN_STAMP): pyproject.toml
	@echo "installing rollout and its dependencies into $(VENV) (once) …"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

## make test: install what the tests need, then lint, type-check and run every test.
test: $(STAMP) system-deps
	$(MAKE) check

## Programs the tests need from Debian: Graphviz `dot` (state diagram as SVG/PNG),
## `chromium` + `chromedriver` (the dashboard's browser tests), `haproxy` (bench/proxy.py's
## reference, its config checked by a test) and `prometheus` (the end-to-end tests of the
## prometheus metric provider start one).
## Installed with apt-get when missing and running as root; otherwise say what to install.
system-deps:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz; \
	  else echo "missing: Graphviz 'dot' (Debian package graphviz); install it and rerun" >&2; exit 1; fi; }
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else echo "missing: 'chromium' and 'chromedriver' (Debian packages chromium, chromium-driver: the dashboard's browser tests); install them and rerun" >&2; exit 1; fi; }
	@command -v haproxy >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; \
	  else echo "missing: 'haproxy' (Debian package haproxy: the proxy benchmark's reference, checked by a test); install it and rerun" >&2; exit 1; fi; }
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

## The suite runs on three workers: the end-to-end tests mostly wait on processes and
## HTTP (on 2 cores, two workers kept the CPUs 42 % busy, 12:01 for the suite; three,
## 55 % and 9:12). `worksteal`: an idle worker takes tests queued on a busy one, so the
## long end-to-end tests do not end the run on one worker while the others wait.
## PYTEST_WORKERS=N to choose another number.
PYTEST_WORKERS ?= 3
unit:
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist worksteal

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
demo: $(RUN_STAMP)
	@$(BIN)/rollout demo
	@echo 'next: `source $(VENV)/bin/activate` (or `make install`) puts `rollout` on your PATH'


## make install: `rollout` on your PATH without activating the virtualenv — a link
## $(PREFIX)/bin/rollout (default ~/.local/bin) to $(VENV)/bin/rollout (an editable
## install: it runs this checkout). `make uninstall` removes the link.
install: $(RUN_STAMP)
	mkdir -p $(PREFIX)/bin
	ln -sfn $(abspath $(BIN))/rollout $(PREFIX)/bin/rollout
	@echo "installed $(PREFIX)/bin/rollout -> $(abspath $(BIN))/rollout"
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; \
	  *) echo "note: $(PREFIX)/bin is not on your PATH; add it (export PATH=\"$(PREFIX)/bin:\$$PATH\")";; esac

uninstall:
	@if [ -L $(PREFIX)/bin/rollout ]; then rm $(PREFIX)/bin/rollout && echo "removed $(PREFIX)/bin/rollout"; fi

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
