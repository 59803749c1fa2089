# One virtual environment, made from pyproject.toml; every target installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROMTOOL := .tools/bin/promtool

.PHONY: run test lint typecheck pytest check clean

# The main job: a backtest of the standard pack on the default simulated casino
# (20,000 players, 30 days); the report lands in out/backtest/report.html.
run: $(STAMP)
	$(BIN)/pitboss backtest --policy policies --scenario simulator/data/default.toml --out out/backtest

# Everything CI runs: lint, types, the test suite.
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check dsl engine simulator pitboss regapi sandbox tests load

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(PROMTOOL)
	$(BIN)/pytest -q

# promtool checks the shipped Prometheus alert rules in the tests. It comes unpacked from
# Debian's prometheus package (no root, nothing installed system-wide); where apt-get is
# not there, those tests are skipped and say so.
$(PROMTOOL):
	@mkdir -p .tools/deb .tools/bin
	-@cd .tools/deb && apt-get download prometheus >/dev/null 2>&1 \
		&& dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool \
		&& mv usr/bin/promtool ../bin/promtool && rm -rf usr prometheus_*.deb \
		|| echo "promtool not fetched (no apt-get?): the alert-rule tests will be skipped"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Pitboss needs Python 3.11 or newer; set PYTHON=python3.X")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,bench]'
	@touch $@

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
