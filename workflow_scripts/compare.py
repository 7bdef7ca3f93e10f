"""Snakemake adapter: rule compare -> microexpr.compare.write_comparison."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.compare import write_comparison
from microexpr.logs import log_to_file
from microexpr.runindex import write_index

log_to_file(snakemake.log[0])
details = snakemake.params.details
runs = [{**run, "metrics": path} for run, path in zip(details["runs"], snakemake.input.runs)]
out = snakemake.output
write_comparison(snakemake.wildcards.experiment, runs, html=out.html, summary_tsv=out.summary, runs_tsv=out.runs,
                 figure_png=out.figure, config=dict(snakemake.params.config), evm_variants=details["evm"],
                 train_variants=details["train"], name=snakemake.params.name, tables_dir=out.tables)
write_index(Path(out.html).parents[2])  # results/<name>/index.html lists the study pages too
