"""Snakemake adapter: rule shard -> microexpr.preprocess.shard_subject (or byo_shard_subject)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import read_manifest
from microexpr.logs import log_to_file
from microexpr.preprocess import byo_shard_subject, shard_subject

log_to_file(snakemake.log[0])
p = snakemake.params
manifest = read_manifest(snakemake.input.manifest)
if p.byo:
    byo_shard_subject(manifest, snakemake.wildcards.subject, snakemake.output[0], classes=list(p.classes),
                      flow_encoding=p.flow_encoding, flow_channels=p.flow_channels,
                      flow_zero=p.flow_zero, flow_method=p.method, flow_params=dict(p.flow), **p.images)
else:
    shard_subject(snakemake.input.flow, manifest, snakemake.output[0], classes=list(p.classes), **p.images)
