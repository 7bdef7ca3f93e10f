"""Snakemake adapter: rule shard -> microexpr.preprocess.run_shard."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import read_manifest
from microexpr.logs import log_to_file
from microexpr.preprocess import run_shard

log_to_file(snakemake.log[0])
p = snakemake.params
run_shard(read_manifest(snakemake.input.manifest), snakemake.wildcards.subject, snakemake.output[0],
          classes=list(p.classes), images=dict(p.images), byo=p.byo, flow_file=getattr(snakemake.input, "flow", None),
          flow_encoding=p.flow_encoding, flow_channels=p.flow_channels, flow_zero=p.flow_zero, flow_method=p.method,
          flow_params=dict(p.flow))
