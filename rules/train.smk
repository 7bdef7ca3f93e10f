# Stage 2: one MSCNN per held-out subject (LOSO), then pooled metrics and the report.


rule train_fold:
    input:
        train=train_shards,
        test=f"{SHARDS}/{{subject}}.h5",
    output:
        predictions=f"{FOLDS}/{{subject}}/predictions.csv",
        metrics=f"{FOLDS}/{{subject}}/metrics.json",
        history=f"{FOLDS}/{{subject}}/history.tsv",
        model=f"{FOLDS}/{{subject}}/model.pt",
    params:
        train=TRAIN,
    log:
        f"{RESULTS}/logs/train_fold/{NAME}/{MODEL_TAG}/{{subject}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_fold/{NAME}/{MODEL_TAG}/{{subject}}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: TRAIN["threads"]
    resources:
        # GPUs, partitions and accounts belong to the execution profile (config/profiles/), not here.
        mem_mb=lambda wildcards, attempt: TRAIN["mem_mb"] * attempt,
        runtime=lambda wildcards, attempt: TRAIN["runtime"] * attempt,
    script:
        "../workflow_scripts/train_fold.py"


rule aggregate:
    input:
        metrics=fold_outputs("metrics.json"),
        predictions=fold_outputs("predictions.csv"),
    output:
        metrics=f"{REPORT}/metrics.json",
        per_fold=report(f"{REPORT}/per_fold.tsv", caption="../report/per_fold.rst", category="Evaluation"),
        per_class=report(f"{REPORT}/per_class.tsv", caption="../report/per_class.rst", category="Evaluation"),
        confusion=report(f"{REPORT}/confusion.png", caption="../report/confusion.rst", category="Evaluation"),
        html=report(f"{REPORT}/report.html", caption="../report/report.rst", category="Evaluation"),
    params:
        config=config,
        title=f"{NAME}: {MODEL_TAG} on {EVM_TAG}/{FLOW_TAG}/{IMG_TAG}",
    log:
        f"{RESULTS}/logs/aggregate/{NAME}/{MODEL_TAG}.log",
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    script:
        "../workflow_scripts/aggregate.py"
