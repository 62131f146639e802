# kmodel: two commands on a fresh machine.
#   make test   set up .venv and run the whole test suite
#   make demo   set up .venv and run the main job
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

demo: $(STAMP)
	$(VENV)/bin/kmodel machine show numa2
	$(VENV)/bin/kmodel run builtin:cpu-online-gets-buffer
	$(VENV)/bin/kmodel bench --quick

bench: $(STAMP)
	mkdir -p results
	$(PY) -m pytest bench -o python_files='bench_*.py' --benchmark-only --benchmark-json=results/bench.json -p no:cacheprovider
	$(PY) -m kmodel.perf.report results/bench.json results/report.md
	$(VENV)/bin/kmodel bench --force --json results/front.json --markdown results/front.md
	@echo "results: results/bench.json results/report.md results/front.json results/front.md"

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
