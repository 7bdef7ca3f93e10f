# microexpr: the MSCNN micro-expression pipeline. Wiring only; logic lives in the microexpr package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/config.smk"
include: "rules/tags.smk"
include: "rules/folds.smk"
include: "rules/studies.smk"
include: "rules/data.smk"
include: "rules/preprocess.smk"
include: "rules/train.smk"
include: "rules/experiments.smk"
include: "rules/spot.smk"


rule all:
    default_target: True
    input:
        final_targets,


rule evaluate:
    """Target: everything up to the LOSO (or LODO) report, without the final model."""
    input:
        evaluate_targets,


onsuccess:
    print(
        f"\nResults of '{NAME}': {OUT}/index.html (every finished run of this name)\n  this run's report: {REPORT}/report.html"
    )
    for study in EXPERIMENTS:
        if Path(f"{OUT}/experiments/{study}/report.html").exists():
            print(f"  {study}: {OUT}/experiments/{study}/report.html")
