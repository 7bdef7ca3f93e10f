"""Snakemake adapter: rule aggregate -> microexpr.report.write_aggregate."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.report import write_aggregate

log_to_file(snakemake.log[0])
out = snakemake.output
write_aggregate(list(snakemake.input.metrics), list(snakemake.input.predictions), metrics_json=out.metrics,
                per_fold_tsv=out.per_fold, per_class_tsv=out.per_class, confusion_png=out.confusion,
                report_html=out.html, config=dict(snakemake.params.config), title=snakemake.params.title,
                protocol=snakemake.params.protocol)
