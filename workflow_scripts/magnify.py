"""Snakemake adapter: rule magnify -> microexpr.preprocess.magnify_subject."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import read_manifest
from microexpr.face import read_crops, read_transforms
from microexpr.logs import log_to_file
from microexpr.preprocess import magnify_subject

log_to_file(snakemake.log[0])
cropped = "crops" in snakemake.input.keys()
crops = read_crops(snakemake.input.crops) if cropped else None
transforms = read_transforms(snakemake.input.crops) if cropped else None
magnify_subject(read_manifest(snakemake.input.manifest), snakemake.wildcards.subject, snakemake.output[0],
                crops=crops, transforms=transforms, **snakemake.params.evm)
