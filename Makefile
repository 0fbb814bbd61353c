# The two commands of the README: `make run` and `make test`.
# Each creates the virtualenv in .venv when it is missing (or when pyproject.toml changed).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test backtest clean

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

clean:
	rm -rf $(VENV) var build *.egg-info
