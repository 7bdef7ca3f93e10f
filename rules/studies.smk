# The studies (rules/experiments.smk): each a list of LOSO runs, variant x seed, as declared once in
# microexpr.studies.STUDIES; each run's EVM and training settings are registered as variants here.
from microexpr.studies import STUDIES, study_runs

EXPERIMENTS = tuple(STUDIES)
EXP = config["experiments"]


def experiment_runs(experiment):
    """One dict per LOSO run of a study: the variant it stands for, its seed and its cached files."""
    runs = []
    for run in study_runs(experiment, EXP, EVM, TRAIN):
        evm_tag, model_tag = register_evm(run.pop("evm_settings")), register_train(run.pop("train_settings"))
        runs.append({**run, "evm": evm_tag, "model": model_tag, "metrics": report_of(evm_tag, model_tag)})
    return runs


# registered at parse time, so the {evm} / {model} wildcards of every study resolve
EXPERIMENT_RUNS = {name: experiment_runs(name) for name in EXPERIMENTS}


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
