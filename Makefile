# idaes-hybrid: one command to test, one to run the bioreactor case study.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test test-unit demo bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m compileall -q idaes_hybrid  # bytecode, as an installed package has (PYTHONDONTWRITEBYTECODE)
	touch $(STAMP)

setup: $(STAMP)

# two pytest workers, each taking whole test files (module fixtures are trained once)
test: $(STAMP)
	$(PY) -m pytest tests -m "unit or component or integration" --timeout=1500 --durations=25 \
		-n 2 --dist loadfile

test-unit: $(STAMP)
	$(PY) -m pytest tests -m unit

demo: $(STAMP)
	$(VENV)/bin/idaes-hybrid train flowsheets/bioreactor/config.toml --out results/bioreactor
	@echo "report: results/bioreactor/report.md"

# all benchmarks one after the other (benchmarks/run.py); the sequential baseline of
# `peers` gets its default 600 s budget (benchmarks/peers.py DEFAULT_BUDGET_S)
bench: $(STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) results .pytest_cache
