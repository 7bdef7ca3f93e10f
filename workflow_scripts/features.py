"""Snakemake adapter: rule features -> microexpr.handcrafted.features_subject."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import read_manifest
from microexpr.handcrafted import features_subject
from microexpr.logs import log_to_file

log_to_file(snakemake.log[0])
p = snakemake.params
features_subject(snakemake.input.magnified, snakemake.input.flow, read_manifest(snakemake.input.manifest),
                 snakemake.output[0], method=p.method, settings=dict(p.settings), classes=list(p.classes))
