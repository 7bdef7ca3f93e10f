# Variant tags. Every parameter that defines a cached file is in its path (readable, or through a short
# hash), so changing one re-runs only what depends on it, and switching back finds the old files.
# EVM settings and training settings are *variants*: the {evm} and {model} wildcards of the rules name
# them, and the registries below map each tag back to its parameters. The configured ones are always
# registered; the studies (rules/studies.smk) register theirs, so an alpha sweep and a sampler ablation
# share every stage they have in common.
CROP_TAG = f"{FACE['detector']}-{short_hash(FACE_KEY)}"
CROPS = f"{OUT}/crops/{CROP_TAG}"
EVM_VARIANTS = {}
MODEL_VARIANTS = {}
FEATURE_VARIANTS = {}  # features tag -> (method, settings) of a hand-crafted method
MODEL_FEATURES = {}  # model tag of a hand-crafted run -> its features tag


def _plain_number(x):
    """8.0 -> 8, so alpha 8 and alpha 8.0 name the same cached files."""
    return int(x) if float(x).is_integer() else float(x)


def register_evm(evm):
    """Tag of an EVM setting (registered for the rules); cropping changes what EVM sees, so the face
    settings join the hash (only when on, so older paths stay valid)."""
    evm = {**evm, "alpha": _plain_number(evm["alpha"])}
    tag = f"alpha{evm['alpha']:g}-{evm['filter']}-{short_hash({**evm, 'face': FACE_KEY} if FACE['detect'] else evm)}"
    EVM_VARIANTS[tag] = evm
    return tag


def register_train(train):
    """Tag of a training setting (registered for the rules)."""
    from microexpr.handcrafted import is_handcrafted, method_settings
    from microexpr.train_settings import TrainConfig, with_model_defaults

    train = with_model_defaults({**train, "streams": list(train["streams"])})  # one variant, however it is written

    learned = TrainConfig.tagged(train)
    if is_handcrafted(train.get("model")):  # features + SVM: the network's settings play no part
        method = train["model"]
        settings = method_settings(method, FEATURES_CONFIG)
        feat = f"{method}-{short_hash(settings)}"
        FEATURE_VARIANTS[feat] = (method, settings)
        svm = {k: learned.get(k) for k in ("model", "seed", "svm_c", "svm_folds")}
        tag = f"{method}-svm-seed{train['seed']}-{short_hash({**svm, 'features': settings})}"
        MODEL_FEATURES[tag] = feat
    elif train.get("ensemble"):  # members' settings are in the hash
        tag = f"ensemble{len(train['ensemble'])}-seed{train['seed']}-{short_hash(learned)}"
    elif train.get("choose"):  # so are the candidates'
        tag = f"choose{len(train['choose'])}-seed{train['seed']}-{short_hash(learned)}"
    elif train.get("model", "mscnn") == "mscnn":
        tag = f"{'+'.join(train['streams'])}-{train['sampler']}-w{train['width']}-seed{train['seed']}-{short_hash(learned)}"
    else:  # the small models read the uvs stream; train.streams and width are MSCNN's
        tag = f"{train['model']}-{train.get('sampler') or 'default'}-seed{train['seed']}-{short_hash(learned)}"
    MODEL_VARIANTS[tag] = train
    return tag


EVM_TAG = register_evm(EVM)
MODEL_TAG = register_train(TRAIN)
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
    evm = EVM_VARIANTS[wildcards.evm]
    model = dict(MODEL_VARIANTS[wildcards.model])
    if wildcards.model in MODEL_FEATURES:
        model["features"] = FEATURE_VARIANTS[MODEL_FEATURES[wildcards.model]][1]
    return {
        "evm": {"tag": wildcards.evm, "settings": {**evm, "face": FACE_KEY} if FACE["detect"] else evm},
        "flow": {"tag": FLOW_TAG, "settings": {"method": FLOW["method"], **flow_params()}},
        "images": {"tag": IMG_TAG, "settings": IMAGES},
        "model": {"tag": wildcards.model, "settings": model},
    }


def report_of(evm_tag, model_tag):
    """The aggregate metrics of one (EVM variant, model variant) LOSO run."""
    return f"{REPORTS.format(evm=evm_tag, model=model_tag)}/metrics.json"
