"""Snakemake adapter: rule manifest -> microexpr.datasets.load_manifest / load_composite + write_manifest."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # microexpr, also in a conda env

from microexpr.datasets import load_byo_manifest, load_composite, load_manifest, write_manifest
from microexpr.datasets.byo import allowed_labels
from microexpr.datasets.manifest import require_classes
from microexpr.logs import log_to_file

log_to_file(snakemake.log[0])
p = snakemake.params
roots = dict(p.roots)
if list(roots) == ["manifest"]:
    manifest = load_byo_manifest(roots["manifest"], allowed_labels(p.classes))
elif len(roots) == 1:
    (fmt, root), = roots.items()
    manifest = load_manifest(fmt, root, p.classes, layout=p.layout, sheet=p.sheet, verify=p.verify, strict=p.strict,
                             apex=p.apex)
else:
    manifest = load_composite(roots, p.classes, verify=p.verify, strict=p.strict, apex=p.apex)
require_classes(manifest, ", ".join(map(str, roots.values())))
write_manifest(manifest, snakemake.output.manifest, snakemake.output.report)
