# Stage 2: one model per fold (held-out subject, or held-out dataset for LODO; train.model), then the report.


rule train_fold:
    input:
        train=train_shards,
        test=test_shards,
        stamp=stamp(f"{FOLDS}/{{fold}}/predictions.csv", "train_fold.py"),
    output:
        predictions=f"{FOLDS}/{{fold}}/predictions.csv",
        metrics=f"{FOLDS}/{{fold}}/metrics.json",
        history=f"{FOLDS}/{{fold}}/history.tsv",
        model=f"{FOLDS}/{{fold}}/model.pt",
    log:
        f"{RESULTS}/logs/train_fold/{NAME}/{{evm}}/{{model}}/{PROTOCOL}/{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_fold/{NAME}/{{evm}}/{{model}}/{PROTOCOL}/{{fold}}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: TRAIN["threads"]
    resources:
        # GPUs, partitions and accounts belong to the execution profile (config/profiles/), not here.
        # gpu_share: one slot of a GPU; `--resources gpu_share=4` runs at most four folds at once on the
        # one GPU they all use (without --resources it limits nothing; on a CPU it changes nothing).
        gpu_share=1,
        mem_mb=lambda wildcards, attempt: model_params(wildcards)["mem_mb"] * attempt,
        runtime=lambda wildcards, attempt: model_params(wildcards)["runtime"] * attempt,
    params:
        train=model_params,
    script:
        "../workflow_scripts/train_fold.py"


rule aggregate:
    input:
        metrics=fold_outputs("metrics.json"),
        predictions=fold_outputs("predictions.csv"),
        histories=fold_outputs("history.tsv"),
        shards=all_shards,  # thumbnails of the misclassified clips
        flows=all_flows,  # their onset frames
        manifest=ancient(f"{OUT}/manifest.tsv"),  # their action units; clips per subject and class
        manifest_report=ancient(f"{OUT}/manifest_report.tsv"),  # rows the data lost, for the report's data section
        stamp=stamp(f"{REPORTS}/metrics.json", "aggregate.py"),
    output:
        metrics=f"{REPORTS}/metrics.json",
        per_fold=report(f"{REPORTS}/per_fold.tsv", caption="../report/per_fold.rst", category="Evaluation"),
        per_class=report(f"{REPORTS}/per_class.tsv", caption="../report/per_class.rst", category="Evaluation"),
        confusion=report(f"{REPORTS}/confusion.png", caption="../report/confusion.rst", category="Evaluation"),
        html=report(f"{REPORTS}/report.html", caption="../report/report.rst", category="Evaluation"),
        curves=report(f"{REPORTS}/curves.png", caption="../report/curves.rst", category="Evaluation"),
        tables=directory(f"{REPORTS}/tables"),  # the report's tables as CSV and LaTeX
        params=f"{REPORTS}/params.yaml",  # each variant tag with the settings behind its hash
    log:
        f"{RESULTS}/logs/aggregate/{NAME}/{{evm}}/{{model}}/{PROTOCOL}.log",
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    params:
        config=run_config,
        tags=run_tags,
        index=f"{OUT}/index.html",  # every finished run of this name; rebuilt here (not an output: shared)
        title=lambda wildcards: f"{NAME}: {wildcards.model} on {wildcards.evm}/{FLOW_TAG}/{IMG_TAG} ({PROTOCOL.upper()})",
        protocol=PROTOCOL,
    script:
        "../workflow_scripts/aggregate.py"


rule final_model:
    """One model trained on every subject of the run for the median of the epochs the LOSO folds chose
    (each on training subjects only), bundled with every setting that made its inputs: python -m
    microexpr predict --model final_model.pt CLIP..."""
    input:
        folds=fold_outputs("metrics.json"),
        report=f"{REPORTS}/metrics.json",
        shards=final_inputs,
        stamp=stamp(f"{REPORTS}/final_model.pt", "final_model.py"),
    output:
        f"{REPORTS}/final_model.pt",
    log:
        f"{RESULTS}/logs/final_model/{NAME}/{{evm}}/{{model}}/{PROTOCOL}.log",
    benchmark:
        f"{RESULTS}/benchmarks/final_model/{NAME}/{{evm}}/{{model}}/{PROTOCOL}.tsv"
    conda:
        "../envs/microexpr.yaml"
    threads: TRAIN["threads"]
    resources:
        gpu_share=1,
        mem_mb=lambda wildcards, attempt: model_params(wildcards)["mem_mb"] * attempt,
        runtime=lambda wildcards, attempt: model_params(wildcards)["runtime"] * attempt,
    params:
        train=model_params,
        config=run_config,
        index=f"{OUT}/index.html",  # rebuilt here too, so it links the final model
    script:
        "../workflow_scripts/final_model.py"


rule predict_clips:
    """The run's final model on every clip of the folder config key predict.clips (see rule predict)."""
    input:
        model=f"{REPORT}/final_model.pt",
        clips=PREDICT_CLIPS,
        stamp=stamp(f"{OUT}/predictions/{PREDICT_TAG}/predictions.csv", "predict.py"),
    output:
        csv=f"{OUT}/predictions/{PREDICT_TAG}/predictions.csv",
        json=f"{OUT}/predictions/{PREDICT_TAG}/predictions.json",
    log:
        f"{RESULTS}/logs/predict/{NAME}/{PREDICT_TAG}.log",
    conda:
        "../envs/microexpr.yaml"
    threads: 1
    params:
        fps=config["predict"]["fps"],
        spotting=config["predict"]["spotting"],
    script:
        "../workflow_scripts/predict.py"


rule predict:
    """Target: snakemake predict --config predict="{clips: /data/new_clips, fps: 200}"."""
    input:
        f"{OUT}/predictions/{PREDICT_TAG}/predictions.csv",
