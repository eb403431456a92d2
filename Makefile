# One pip environment holds every framework (conda channels are not needed for the
# default run; `--sdm conda` uses envs/*.yaml instead). `make setup` is idempotent.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup study report coreml-mac test lint benchmark clean litert-torch-env

$(STAMP): envs/requirements.txt envs/requirements-nodeps.txt envs/test-requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r envs/requirements.txt -r envs/test-requirements.txt
	$(BIN)/pip install --quiet --no-deps -r envs/requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

## Runs the default study (config/config.yaml); results land in results/. Also finishes a
## run that was killed: stale lock removed when nothing else runs here, interrupted jobs
## rerun, finished ones kept (see src/convstudy/resume.py).
study: setup litert-torch-env
	$(BIN)/python -m convstudy.resume --progress --cores $(CORES) --scheduler greedy --keep-going
	@echo "Tables and Figure 2: results/report/   per-cell tables: results/tables/   logs: logs/"

## The HTML report of the study (every table and figure, with captions): results/report.html.
report: study
	$(BIN)/snakemake --cores 1 --report results/report.html
	@echo "Open results/report.html in a browser."

## macOS only: the CoreML predictions, attack replays and their comparisons, from a Linux
## run's results/ and data/prepared/ copied here with their times (rsync -a). Copy
## results/ back and run `make study` on Linux to gather them (README, "CoreML on a Mac").
MAC_PACKAGES := snakemake coremltools numpy pandas pooch jsonschema pyyaml tabulate packaging
coreml-mac:
	test "$$(uname -s)" = Darwin || { echo "coreml-mac: the CoreML runtime needs macOS"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	grep -E "^($(shell echo $(MAC_PACKAGES) | tr ' ' '|'))==" envs/requirements.txt > $(VENV)/mac-requirements.txt
	$(BIN)/pip install --quiet -r $(VENV)/mac-requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m convstudy.mac --cores $(CORES) --keep-going $(MAC_ARGS)

## The whole suite on TEST_WORKERS pytest-xdist workers; the tests that read the tiny run
## stay on one of them (tests/conftest.py). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: setup litert-torch-env
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check src tests workflow/scripts
	$(BIN)/ruff format --check src tests workflow/scripts
	$(BIN)/mypy src

benchmark: setup litert-torch-env
	$(BIN)/python -m convstudy.benchmark --cores $(CORES)

clean:
	rm -rf results logs benchmarks .snakemake .benchmark

## The litert-torch environment for the matrix's PyTorch -> TFLite hop (~2 GB), apart from
## .venv because litert-torch breaks pydantic beside the main stack; made by study and test.
LITERT_VENV ?= .venv-litert-torch
litert-torch-env: $(LITERT_VENV)/.installed
$(LITERT_VENV)/.installed: envs/litert-torch.txt
	test -x $(LITERT_VENV)/bin/python || $(PYTHON) -m venv $(LITERT_VENV)
	$(LITERT_VENV)/bin/pip install --quiet -r envs/litert-torch.txt
	touch $@
