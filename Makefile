# at-exec-sim: `make demo` and `make test` work on a fresh clone (they build .venv first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv lock demo test lint docs docs-config golden test-unit test-integration chaos chaos-cluster bench bench-memory profile clean

venv: $(STAMP)

# Re-installs only when the dependencies change. The versions come from requirements/dev.lock (the
# ones CI tested), the project itself editable on top; pip check fails when the lock lacks a
# dependency setup.cfg names (run `make lock`).
$(STAMP): setup.cfg pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "at-exec-sim needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check || { echo "requirements/dev.lock does not cover setup.cfg: run make lock" >&2; exit 1; }
	touch $(STAMP)

# Rewrites requirements/{service,tools,dev}.lock from .venv after setup.cfg's dependencies change:
# what is installed stays (a new dependency is added at its newest version in range);
# UPGRADE=1 takes the newest version in range of everything.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(if $(UPGRADE),--upgrade --upgrade-strategy eager) -e '.[dev,tools]'
	$(BIN)/python tools/lock_service.py --write

demo: venv
	$(BIN)/at-exec-sim demo

# Lint and import order (ruff), types (mypy: strict on the pure packages), then every test
# (tests/unit/docs builds the documentation site with mkdocs --strict).
test: lint
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy --strict worker common
	$(BIN)/mypy supervisor tools

# The documentation site into site/ (make test builds it too, with --strict, into a temporary directory).
docs: venv
	$(BIN)/python -m mkdocs build --strict

# Rewrites docs/configuration.md from the settings definition (common/config_variables.py,
# common/config_market.py): after adding or changing a variable, in the same commit.
docs-config: venv
	$(BIN)/python -m tools.docs_config --write

test-unit: venv
	$(BIN)/python -m pytest tests/unit

test-integration: venv
	$(BIN)/python -m pytest tests/integration

# The fault-injection tests with five times the intents (make test runs them at 1x).
chaos: venv
	CHAOS_SCALE=$${CHAOS_SCALE:-5} $(BIN)/python -m pytest -m chaos -s

# Scale-out (several instances, a three-node NATS cluster losing a node) with five times the intents.
chaos-cluster: venv
	CHAOS_SCALE=$${CHAOS_SCALE:-5} $(BIN)/python -m pytest tests/integration/test_scale_out.py -s

bench: venv
	$(BIN)/python bench/simulation_cost.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/flood_fairness.py
	$(BIN)/python bench/market_bus.py

# Resident size of every service process over 1,000,000 intents (about 6 minutes).
bench-memory: venv
	$(BIN)/python bench/memory.py

# Where the supervisor's CPU goes at full rate (py-spy, from the dev extras).
profile: venv
	$(BIN)/python bench/profile_supervisor.py

# Rewrites tests/golden/corpus.sha256: only in a commit that changes outputs on purpose.
golden: venv
	$(BIN)/python -m tests.golden.corpus --write

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
