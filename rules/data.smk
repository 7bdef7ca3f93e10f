# Stage 0: the dataset (generated when no licensed root is configured) and the clip manifest.
# Every job has a stamp input (rules/folds.smk, stamp()): its code and data fingerprints.
MANIFEST_SETTINGS = {
    k: DATASET[v]
    for k, v in (
        ("sheet", "sheet"),
        ("layout", "layout"),
        ("classes", "classes"),
        ("verify", "verify_frames"),
        ("apex", "apex"),
        ("strict", "strict"),
    )
}


rule synthesize:
    input:
        stamp=stamp(f"{RESULTS}/synthetic/{{fmt}}_{{synth_hash}}", "synthesize.py"),
    output:
        directory(f"{RESULTS}/synthetic/{{fmt}}_{{synth_hash}}"),
    log:
        f"{RESULTS}/logs/synthesize/{{fmt}}_{{synth_hash}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesize/{{fmt}}_{{synth_hash}}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        synthetic=lambda wildcards: {"format": wildcards.fmt, **config["synthetic"]},
    script:
        "../workflow_scripts/synthesize.py"


checkpoint manifest:
    input:
        manifest_input,
        # code, settings and the dataset tree's fingerprint, kept beside the manifest (see stamp())
        stamp=stamp(
            f"{OUT}/manifest.tsv",
            "manifest.py",
            data=lambda wildcards: manifest_fingerprint(),
            settings=MANIFEST_SETTINGS,
        ),
    output:
        manifest=f"{OUT}/manifest.tsv",
        report=f"{OUT}/manifest_report.tsv",
    log:
        f"{RESULTS}/logs/manifest/{NAME}.log",
    benchmark:
        f"{RESULTS}/benchmarks/manifest/{NAME}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        **MANIFEST_SETTINGS,
        roots=data_roots(),
    script:
        "../workflow_scripts/manifest.py"
