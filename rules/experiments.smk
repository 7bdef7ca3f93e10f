# The studies as targets (microexpr.studies.STUDIES): snakemake alpha_sweep | ablation_sampler | ... | experiments.
# Each is a set of LOSO runs (variant x seed) through the ordinary rules; the runs register their
# EVM / training variants, so stages they share are computed once (a sampler ablation re-uses the
# configured EVM's shards, and every study re-uses the configured run when it is one of its variants).
rule compare:
    input:
        runs=experiment_inputs,
        stamp=stamp(f"{OUT}/experiments/{{experiment}}/report.html", "compare.py"),
    output:
        html=report(
            f"{OUT}/experiments/{{experiment}}/report.html", caption="../report/compare.rst", category="Experiments"
        ),
        summary=f"{OUT}/experiments/{{experiment}}/summary.tsv",
        runs=f"{OUT}/experiments/{{experiment}}/runs.tsv",
        figure=report(
            f"{OUT}/experiments/{{experiment}}/comparison.png",
            caption="../report/comparison.rst",
            category="Experiments",
        ),
        tables=directory(f"{OUT}/experiments/{{experiment}}/tables"),  # the page's tables as CSV and LaTeX
    log:
        f"{RESULTS}/logs/compare/{NAME}/{{experiment}}.log",
    wildcard_constraints:
        experiment="|".join(EXPERIMENTS),
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    params:
        details=experiment_details,
        config={k: v for k, v in config.items() if k not in ("experiments", "predict")},
        name=NAME,
    script:
        "../workflow_scripts/compare.py"


# one target per study, named as the study (snakemake alpha_sweep, ...)
for _study in EXPERIMENTS:

    rule:
        name:
            _study
        input:
            f"{OUT}/experiments/{_study}/report.html",


rule experiments:
    input:
        expand(f"{OUT}/experiments/{{experiment}}/report.html", experiment=EXPERIMENTS),
