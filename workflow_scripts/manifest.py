"""Snakemake adapter: rule manifest -> microexpr.datasets.load_run_manifest + write_manifest."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import load_run_manifest, write_manifest
from microexpr.logs import log_to_file

log_to_file(snakemake.log[0])
p = snakemake.params
manifest = load_run_manifest(dict(p.roots), p.classes, layout=p.layout, sheet=p.sheet, verify=p.verify,
                             strict=p.strict, apex=p.apex)
write_manifest(manifest, snakemake.output.manifest, snakemake.output.report)
