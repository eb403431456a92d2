# One pip environment holds every framework (conda channels are not needed for the
# default run; `--sdm conda` uses envs/*.yaml instead). `make setup` is idempotent.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup study report test lint benchmark clean

$(STAMP): envs/requirements.txt envs/test-requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r envs/requirements.txt -r envs/test-requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

## Runs the default study (config/config.yaml); results land in results/. Also finishes a
## run that was killed: stale lock removed when nothing else runs here, interrupted jobs
## rerun, finished ones kept (see src/convstudy/resume.py).
study: setup
	$(BIN)/python -m convstudy.resume --cores $(CORES) --keep-going
	@echo "Tables and Figure 2: results/report/   per-cell tables: results/tables/   logs: logs/"

## The HTML report of the study (every table and figure, with captions): results/report.html.
report: study
	$(BIN)/snakemake --report results/report.html
	@echo "Open results/report.html in a browser."

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check src tests workflow/scripts
	$(BIN)/mypy src

benchmark: setup
	$(BIN)/python -m convstudy.benchmark --cores $(CORES)

clean:
	rm -rf results logs benchmarks .snakemake .benchmark
