"""Snakemake adapter: rule magnify -> microexpr.preprocess.magnify_subject."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import read_manifest
from microexpr.logs import log_to_file
from microexpr.preprocess import magnify_subject

log_to_file(snakemake.log[0])
magnify_subject(read_manifest(snakemake.input.manifest), snakemake.wildcards.subject, snakemake.output[0],
                crops_file=getattr(snakemake.input, "crops", None), **snakemake.params.evm)
