"""Snakemake adapter: rule predict_clips -> microexpr.predict.predict."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.predict import predict

log_to_file(snakemake.log[0])
predict(snakemake.input.model, list(snakemake.input.clips), fps=snakemake.params.fps,
        out_dir=Path(snakemake.output.csv).parent, spotting=snakemake.params.spotting)
