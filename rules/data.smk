# Stage 0: the dataset (generated when no licensed root is configured) and the clip manifest.


rule synthesize:
    output:
        directory(f"{RESULTS}/synthetic/{{fmt}}_{{synth_hash}}"),
    params:
        synthetic=lambda wildcards: {"format": wildcards.fmt, **config["synthetic"]},
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
    script:
        "../workflow_scripts/synthesize.py"


checkpoint manifest:
    input:
        manifest_input,
    output:
        manifest=f"{OUT}/manifest.tsv",
        report=f"{OUT}/manifest_report.tsv",
    params:
        data=lambda wildcards: manifest_fingerprint(),  # evaluated only for the manifest job
        roots=data_roots(),
        sheet=DATASET["sheet"],
        layout=DATASET["layout"],
        classes=DATASET["classes"],
        verify=DATASET["verify_frames"],
        apex=DATASET["apex"],
        strict=DATASET["strict"],
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
    script:
        "../workflow_scripts/manifest.py"
