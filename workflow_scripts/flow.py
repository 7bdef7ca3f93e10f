"""Snakemake adapter: rule flow -> microexpr.preprocess.flow_subject."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.preprocess import flow_subject

log_to_file(snakemake.log[0])
flow_subject(snakemake.input.magnified, snakemake.output[0], method=snakemake.params.method, params=snakemake.params.flow)
