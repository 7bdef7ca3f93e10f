"""Snakemake adapter: rule train_fold -> microexpr.training.train_fold."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.training import TrainConfig, train_fold

log_to_file(snakemake.log[0])
settings = {**snakemake.params.train, "threads": snakemake.threads}
train_fold(list(snakemake.input.train), list(snakemake.input.test), Path(snakemake.output.metrics).parent,
           TrainConfig(**settings), fold=snakemake.wildcards.fold)
