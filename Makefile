# One pip environment holds every framework (conda channels are not needed for the
# default run; `--sdm conda` uses envs/*.yaml instead). `make setup` is idempotent.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup study test lint benchmark clean litert-torch-env

$(STAMP): envs/requirements.txt envs/requirements-nodeps.txt envs/test-requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r envs/requirements.txt -r envs/test-requirements.txt
	$(BIN)/pip install --quiet --no-deps -r envs/requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

## Runs the default study (config/config.yaml); results land in results/.
study: setup
	$(BIN)/snakemake --cores $(CORES) --keep-going
	@echo "Tables and Figure 2: results/report/   per-cell tables: results/tables/   logs: logs/"

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

## Opt-in: the litert-torch environment for the matrix's PyTorch -> TFLite hop (~2 GB).
LITERT_VENV ?= .venv-litert-torch
litert-torch-env: $(LITERT_VENV)/.installed
$(LITERT_VENV)/.installed: envs/litert-torch.txt
	test -x $(LITERT_VENV)/bin/python || $(PYTHON) -m venv $(LITERT_VENV)
	$(LITERT_VENV)/bin/pip install --quiet -r envs/litert-torch.txt
	touch $@
