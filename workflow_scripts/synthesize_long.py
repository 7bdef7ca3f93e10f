"""Snakemake adapter: rule synthesize_long -> microexpr.datasets.synthetic_long.generate_long."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets.synthetic_long import LongSynthConfig, generate_long
from microexpr.logs import log_to_file

log_to_file(snakemake.log[0])
generate_long(LongSynthConfig(**snakemake.params.synthetic), snakemake.output[0], overwrite=True, progress=False)
