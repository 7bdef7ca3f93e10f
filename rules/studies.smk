# The studies (rules/experiments.smk): each a list of LOSO runs, variant x seed, as declared once in
# microexpr.studies.STUDIES; their variants were registered with the configured ones (rules/tags.smk).
EXPERIMENT_RUNS = {
    name: [{**run, "metrics": report_of(run["evm"], run["model"])} for run in runs] for name, runs in STUDY_RUNS.items()
}


def experiment_inputs(wildcards):
    if BYO and "evm" in STUDIES[wildcards.experiment].section.split("+"):
        raise WorkflowError(
            f"{wildcards.experiment} needs video clips; a bring-your-own manifest brings finished images"
        )
    return [run["metrics"] for run in EXPERIMENT_RUNS[wildcards.experiment]]


def experiment_details(wildcards):
    """What the comparison page shows about how each variant was produced."""
    runs = EXPERIMENT_RUNS[wildcards.experiment]
    return {
        "runs": [{k: v for k, v in run.items() if k != "metrics"} for run in runs],
        "evm": {run["evm"]: EVM_VARIANTS[run["evm"]] for run in runs},
        "train": {run["model"]: MODEL_VARIANTS[run["model"]] for run in runs},
    }
