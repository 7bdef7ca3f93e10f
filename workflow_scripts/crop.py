"""Snakemake adapter: rule crop -> microexpr.face.detect_subject."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import read_manifest
from microexpr.face import detect_subject
from microexpr.logs import log_to_file

log_to_file(snakemake.log[0])
detect_subject(read_manifest(snakemake.input.manifest), snakemake.wildcards.subject, snakemake.output[0],
               **snakemake.params.face)
