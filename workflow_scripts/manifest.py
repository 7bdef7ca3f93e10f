"""Snakemake adapter: rule manifest -> microexpr.datasets.load_manifest / load_composite + write_manifest."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import load_composite, load_manifest, write_manifest
from microexpr.datasets.manifest import require_classes
from microexpr.logs import log_to_file

log_to_file(snakemake.log[0])
p = snakemake.params
roots = dict(p.roots)
if len(roots) == 1:  # one dataset, or a bring-your-own CSV (format manifest)
    (fmt, root), = roots.items()
    manifest = load_manifest(fmt, root, p.classes, layout=p.layout, sheet=p.sheet, verify=p.verify, strict=p.strict,
                             apex=p.apex)
else:
    manifest = load_composite(roots, p.classes, verify=p.verify, strict=p.strict, apex=p.apex)
require_classes(manifest, ", ".join(map(str, roots.values())))
write_manifest(manifest, snakemake.output.manifest, snakemake.output.report)
