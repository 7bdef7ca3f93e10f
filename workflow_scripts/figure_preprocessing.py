"""Snakemake adapter: rule figure_preprocessing -> microexpr.plots.preprocessing_figure."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.plots import preprocessing_figure

log_to_file(snakemake.log[0])
preprocessing_figure(snakemake.input.flow, snakemake.input.shard, snakemake.output[0])
