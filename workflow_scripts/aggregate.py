"""Snakemake adapter: rule aggregate -> microexpr.report.write_aggregate."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.logs import log_to_file
from microexpr.report import write_aggregate

log_to_file(snakemake.log[0])
out, inp, p = snakemake.output, snakemake.input, snakemake.params
write_aggregate(list(inp.metrics), list(inp.predictions), metrics_json=out.metrics, per_fold_tsv=out.per_fold,
                per_class_tsv=out.per_class, confusion_png=out.confusion, report_html=out.html,
                config=dict(p.config), title=p.title, protocol=p.protocol, histories=list(inp.histories),
                curves_png=out.curves, shards=list(inp.shards), index_html=p.index,
                manifest=inp.manifest, manifest_report=inp.manifest_report, tables_dir=out.tables,
                flows=list(inp.flows), tags=dict(p.tags), params_yaml=out.params)
