# Long videos: spot every video of a coded long-video dataset, score the spots (MEGC protocol), classify each
# spotted micro-expression with the run's final model. Target: snakemake spot (docs/spotting.md).


rule synthesize_long:
    input:
        stamp=stamp(f"{RESULTS}/synthetic_long/{{long_fmt}}_{{synth_hash}}", "synthesize_long.py"),
    output:
        directory(f"{RESULTS}/synthetic_long/{{long_fmt}}_{{synth_hash}}"),
    log:
        f"{RESULTS}/logs/synthesize_long/{{long_fmt}}_{{synth_hash}}.log",
    wildcard_constraints:
        long_fmt="|".join(LONG_FORMATS),
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    params:
        synthetic=lambda wildcards: {k: v for k, v in spot_synthetic_params().items() if k != "generator_version"},
    script:
        "../workflow_scripts/synthesize_long.py"


rule spot_videos:
    """Every video of spotting.root (or the synthetic set) spotted and scored, micro-expressions classified."""
    input:
        model=f"{REPORT}/final_model.pt",
        root=lambda wildcards: spot_root(),
        # a user's root: what its files are (an edit re-runs the job); the synthetic set is an output itself
        stamp=stamp(
            f"{OUT}/spotting/{SPOT_TAG}/scores.json",
            "spot.py",
            settings=SPOTTING,
            data=lambda wildcards: spot_root_fingerprint(),
        ),
    output:
        scores=f"{OUT}/spotting/{SPOT_TAG}/scores.json",
        spotted=f"{OUT}/spotting/{SPOT_TAG}/spotted.csv",
        truth=f"{OUT}/spotting/{SPOT_TAG}/truth.csv",
        sheet_rows=f"{OUT}/spotting/{SPOT_TAG}/report.csv",
        html=report(f"{OUT}/spotting/{SPOT_TAG}/report.html", caption="../report/spotting.rst", category="Spotting"),
    log:
        f"{RESULTS}/logs/spot/{NAME}/{SPOT_TAG}.log",
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    params:
        dataset=SPOTTING["dataset"],
        method=SPOTTING["method"],
        png=SPOTTING["png"],
        face=SPOTTING["face"],
    script:
        "../workflow_scripts/spot.py"


rule spot:
    """Target: snakemake spot (spotting.dataset and spotting.root choose the videos)."""
    input:
        f"{OUT}/spotting/{SPOT_TAG}/scores.json",
