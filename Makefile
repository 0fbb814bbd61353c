# The two commands of the README: `make run` and `make test`.
# Each creates the virtualenv in .venv when it is missing (or when pyproject.toml changed).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test backtest audit soak bench compiled pure clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/quantd run

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n 2   # two workers: the suite waits on sockets and subprocesses

backtest: $(BIN)/.installed
	$(BIN)/quantd backtest --strategy sma_cross --param fast=10 --param slow=30

# Known vulnerabilities in the installed dependencies (needs network access to the PyPI/OSV
# advisory database; it cannot reach it from the development machines, so CI does not run it;
# .github/workflows/audit.yml runs it weekly for users).
audit: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet pip-audit
	$(BIN)/pip-audit --skip-editable

# The long chaos campaign (tests/chaos/): HOURS=1 SEED=7 make soak
soak: $(BIN)/.installed
	$(BIN)/python -m bench.soak --hours $(or $(HOURS),0.5) --seed $(or $(SEED),7)

# Speed against backtrader and vectorbt (installs the [bench] extra); writes bench/RESULTS.md
bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

# The optional compiled core (mypyc; needs a C compiler): faster backtests, same results.
# `make pure` goes back to the Python modules (engine/compiled.py, ADR 0015).
compiled: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet 'mypy>=1.10'
	QUANTD_CORE_REBUILD=1 $(BIN)/python -m engine.compiled build

pure: $(BIN)/.installed
	QUANTD_CORE_REBUILD=1 $(BIN)/python -m engine.compiled clean

clean:
	rm -rf $(VENV) var build *.egg-info
