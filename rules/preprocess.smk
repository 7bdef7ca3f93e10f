# Stage 1: EVM -> optical flow -> stream images and x10 augmentation into per-subject shards.


rule crop:
    input:
        manifest=ancient(f"{OUT}/manifest.tsv"),
        stamp=stamp(f"{CROPS}/{{subject}}.tsv", "crop.py", data=subject_data(EVM_COLUMNS), face=FACE_KEY),
    output:
        f"{CROPS}/{{subject}}.tsv",
    log:
        f"{RESULTS}/logs/crop/{NAME}/{CROP_TAG}/{{subject}}.log",
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        face=FACE,
    script:
        "../workflow_scripts/crop.py"


rule magnify:
    input:
        unpack(magnify_inputs),
        stamp=stamp(f"{MAGNIFIED}/{{subject}}.h5", "magnify.py", data=subject_data(EVM_COLUMNS)),
    output:
        f"{MAGNIFIED}/{{subject}}.h5",
    log:
        f"{RESULTS}/logs/magnify/{NAME}/{{evm}}/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/magnify/{NAME}/{{evm}}/{{subject}}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        evm=evm_params,
    script:
        "../workflow_scripts/magnify.py"


rule flow:
    input:
        magnified=f"{MAGNIFIED}/{{subject}}.h5",
        stamp=stamp(f"{FLOWS}/{{subject}}.h5", "flow.py"),
    output:
        f"{FLOWS}/{{subject}}.h5",
    log:
        f"{RESULTS}/logs/flow/{NAME}/{{evm}}/{FLOW_TAG}/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/flow/{NAME}/{{evm}}/{FLOW_TAG}/{{subject}}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        method=FLOW["method"],
        flow=flow_params(),
    script:
        "../workflow_scripts/flow.py"


rule shard:
    input:
        unpack(shard_inputs),
        stamp=stamp(
            f"{SHARDS}/{{subject}}.h5",
            "shard.py",
            data=subject_data(SHARD_COLUMNS),
            classes=class_list(),
            byo=BYO,
            flow_encoding=DATASET["flow_encoding"],
            flow_channels=DATASET["flow_channels"],
            flow_zero=DATASET["flow_zero"],
        ),
    output:
        f"{SHARDS}/{{subject}}.h5",
    log:
        f"{RESULTS}/logs/shard/{NAME}/{{evm}}/{FLOW_TAG}/{IMG_TAG}/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/shard/{NAME}/{{evm}}/{FLOW_TAG}/{IMG_TAG}/{{subject}}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        images=IMAGES,
        classes=class_list(),
        byo=BYO,
        flow_encoding=DATASET["flow_encoding"],
        flow_channels=DATASET["flow_channels"],
        flow_zero=DATASET["flow_zero"],
        method=FLOW["method"],
        flow=flow_params(),
    script:
        "../workflow_scripts/shard.py"


rule features:
    """A hand-crafted method's features of one subject's clips (train.model lbptop, lbpsip, hoof):
    from the magnified onset..offset frames and the onset -> apex flow."""
    input:
        magnified=f"{MAGNIFIED}/{{subject}}.h5",
        flow=f"{FLOWS}/{{subject}}.h5",
        manifest=ancient(f"{OUT}/manifest.tsv"),  # what matters of it: the stamp's data (subject_data)
        stamp=stamp(
            f"{FEATURES}/{{subject}}.h5",
            "features.py",
            data=subject_data(SHARD_COLUMNS),
            classes=class_list(),
            settings=lambda wildcards: feature_params(wildcards),
        ),
    output:
        f"{FEATURES}/{{subject}}.h5",
    log:
        f"{RESULTS}/logs/features/{NAME}/{{evm}}/{FLOW_TAG}/{{feat}}/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/features/{NAME}/{{evm}}/{FLOW_TAG}/{{feat}}/{{subject}}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        method=lambda wildcards: feature_params(wildcards)[0],
        settings=lambda wildcards: feature_params(wildcards)[1],
        classes=class_list(),
    script:
        "../workflow_scripts/features.py"


rule shard_index:
    input:
        shards=all_shards,
        stamp=stamp(f"{SHARDS}/index.tsv", "shard_index.py"),
    output:
        f"{SHARDS}/index.tsv",
    log:
        f"{RESULTS}/logs/shard_index/{NAME}/{{evm}}/{FLOW_TAG}/{IMG_TAG}.log",
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    script:
        "../workflow_scripts/shard_index.py"


rule figure_preprocessing:
    input:
        unpack(figure_inputs),
        stamp=stamp(f"{FIGURES}/preprocessing.png", "figure_preprocessing.py"),
    output:
        report(
            f"{FIGURES}/preprocessing.png",
            caption="../report/preprocessing.rst",
            category="Pre-processing",
        ),
    log:
        f"{RESULTS}/logs/figure_preprocessing/{NAME}/{{evm}}/{FLOW_TAG}/{IMG_TAG}.log",
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    script:
        "../workflow_scripts/figure_preprocessing.py"


rule preprocess:
    """Target: every stage before training for the configured settings (snakemake preprocess)."""
    input:
        preprocess_targets,
