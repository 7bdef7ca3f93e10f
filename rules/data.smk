# Stage 0: the dataset (generated when no licensed root is configured) and the clip manifest.


rule synthesize:
    output:
        directory(SYNTH_DIR),
    params:
        synthetic=synthetic_params(),
    log:
        f"{RESULTS}/logs/synthesize/{SYNTH_ID}.log",
    benchmark:
        f"{RESULTS}/benchmarks/synthesize/{SYNTH_ID}.tsv"
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
        unpack(manifest_input),
    output:
        manifest=f"{OUT}/manifest.tsv",
        report=f"{OUT}/manifest_report.tsv",
    params:
        dataset=DATASET["format"],
        root=DATA_ROOT,
        sheet=DATASET["sheet"],
        layout=DATASET["layout"],
        classes=DATASET["classes"],
        verify=DATASET["verify_frames"],
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
