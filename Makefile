# Two commands set everything up on a fresh machine:
#   make run    create .venv if missing, install, run the workflow on the default (synthetic) config
#   make test   same set-up (and a headless Chromium for the report test), then the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORES  ?= all
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=
# test processes: two keep both cores busy while a workflow test's Snakemake waits on its jobs
TEST_WORKERS ?= 2

.PHONY: run test install dry-run clean-results bench slurm-check figures check-figures gpu-check

# The stamp is rebuilt whenever pyproject.toml changes, so a new pin is installed on the next command.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

dry-run: install
	$(BIN)/snakemake -n --cores $(CORES) $(SNAKEMAKE_ARGS)

test: install
	@bash scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS)

# The default-run figures the README and docs quote, written from (or checked against) the run's metrics.json
figures: install
	$(BIN)/python -m microexpr figures results/synthetic_casme2

check-figures: install
	$(BIN)/python -m microexpr figures --check results/synthetic_casme2

# On a machine with an NVIDIA GPU (about 5 minutes): the CUDA path end to end, samples/s with 1 and 4 folds
# per GPU, and the projected paper-scale CASME II LOSO; without CUDA it refuses (exit 1)
gpu-check: install
	$(BIN)/python benchmarks/gpu.py

clean-results:
	rm -rf results/*

# The SLURM executor plugin (extra `slurm`) is installed only where Snakemake submits to SLURM: on a
# machine with SLURM's client tools but no reachable controller, the plugin's start-up probes
# (scontrol) cost seconds on every snakemake call. The check installs it for its run.
slurm-check: install
	bash scripts/slurm_cluster_check.sh

bench: install
	$(BIN)/python benchmarks/evm.py
	$(BIN)/python benchmarks/preprocess.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/train.py --size 112 --width 64 --clips 16 --epochs 3
	$(BIN)/python benchmarks/recipes.py
