# Variant tags (microexpr.variants): every setting that defines a cached file is in its path, readable or
# through a short hash. EVM and training settings are variants ({evm} and {model} wildcards); the
# configured ones and every study's runs are registered here, at once, and the registry is then frozen:
# the rules of every file read it complete, whatever order the files are included in.
from microexpr.studies import STUDIES
from microexpr.variants import Variants

CROP_TAG = f"{FACE['detector']}-{short_hash(FACE_KEY)}"
CROPS = f"{OUT}/crops/{CROP_TAG}"
VARIANTS = Variants(FACE, FACE_KEY, FEATURES_CONFIG)
EVM_TAG = VARIANTS.add_evm(EVM)
MODEL_TAG = VARIANTS.add_train(TRAIN)
EXPERIMENTS = tuple(STUDIES)
STUDY_RUNS = VARIANTS.add_studies(config["experiments"], EVM, TRAIN)  # study -> runs with their tags
VARIANTS.freeze()
EVM_VARIANTS, MODEL_VARIANTS = VARIANTS.evm, VARIANTS.model
FEATURE_VARIANTS, MODEL_FEATURES = VARIANTS.features, VARIANTS.model_features
FLOW_TAG = f"{FLOW['method']}-{short_hash(flow_params())}"
IMG_TAG = f"s{IMAGES['size']}-t{IMAGES['threshold']}-{short_hash(IMAGES)}"
# path templates with {evm} / {model} wildcards (the rules fill them; final_targets the configured ones)
MAGNIFIED = f"{OUT}/magnified/{{evm}}"
FLOWS = f"{OUT}/flow/{{evm}}/{FLOW_TAG}"
SHARDS = f"{OUT}/shards/{{evm}}/{FLOW_TAG}/{IMG_TAG}"
FEATURES = f"{OUT}/features/{{evm}}/{FLOW_TAG}/{{feat}}"  # a hand-crafted method's per-subject features
FIGURES = f"{OUT}/figures/{{evm}}/{FLOW_TAG}/{IMG_TAG}"
FOLDS = f"{OUT}/folds/{{evm}}/{FLOW_TAG}/{IMG_TAG}/{{model}}/{PROTOCOL}"
REPORTS = f"{OUT}/reports/{{evm}}/{FLOW_TAG}/{IMG_TAG}/{{model}}/{PROTOCOL}"
REPORT = REPORTS.format(evm=EVM_TAG, model=MODEL_TAG)


def evm_params(wildcards):
    try:
        return EVM_VARIANTS[wildcards.evm]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.evm}' is neither the configured EVM setting ({EVM_TAG}) nor one an "
            "experiment asks for: set evm in the config (or experiments.alphas)"
        ) from None


def model_params(wildcards):
    try:
        return MODEL_VARIANTS[wildcards.model]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.model}' is neither the configured training setting ({MODEL_TAG}) nor "
            "one an experiment asks for: set train in the config"
        ) from None


def feature_params(wildcards):
    """(method, settings) of the features a rule makes."""
    try:
        return FEATURE_VARIANTS[wildcards.feat]
    except KeyError:
        raise WorkflowError(
            f"'{wildcards.feat}' names no hand-crafted method of the configuration (train.model "
            "lbptop, lbpsip or hoof, with its settings in features)"
        ) from None


def run_config(wildcards):
    """The configuration one LOSO run was made with (its own EVM and training variant)."""
    # studies re-use runs and new clips use them; neither defines them
    cfg = {k: v for k, v in config.items() if k not in ("experiments", "predict")}
    return {**cfg, "evm": evm_params(wildcards), "train": model_params(wildcards)}


def run_tags(wildcards):
    """The variant folders of one run, each with what its hash is of (metrics.json and params.yaml)."""
    return {
        "evm": {"tag": wildcards.evm, "settings": VARIANTS.evm_settings(wildcards.evm)},
        "flow": {"tag": FLOW_TAG, "settings": {"method": FLOW["method"], **flow_params()}},
        "images": {"tag": IMG_TAG, "settings": IMAGES},
        "model": {"tag": wildcards.model, "settings": VARIANTS.model_settings(wildcards.model)},
    }


def report_of(evm_tag, model_tag):
    """The aggregate metrics of one (EVM variant, model variant) LOSO run."""
    return f"{REPORTS.format(evm=evm_tag, model=model_tag)}/metrics.json"
