"""Snakemake adapter: rule synthesize -> microexpr.datasets.synthetic.generate."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets.synthetic import SynthConfig, generate
from microexpr.logs import log_to_file

log_to_file(snakemake.log[0])
generate(SynthConfig(**snakemake.params.synthetic), snakemake.output[0], overwrite=True)
