"""Snakemake adapter: rule shard -> microexpr.preprocess.shard_subject."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import read_manifest
from microexpr.logs import log_to_file
from microexpr.preprocess import shard_subject

log_to_file(snakemake.log[0])
shard_subject(snakemake.input.flow, read_manifest(snakemake.input.manifest), snakemake.output[0],
              classes=list(snakemake.params.classes), **snakemake.params.images)
