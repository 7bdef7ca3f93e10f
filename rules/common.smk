# Config validation, paths and input functions shared by all rules.
import hashlib
import json
import sys
from pathlib import Path

from microexpr.config import ConfigError, plan_errors, validate_config
from microexpr.datasets.fingerprint import EVM_COLUMNS, SHARD_COLUMNS


try:
    validate_config(
        config,
        Path(workflow.basedir) / "config" / "schemas" / "config.schema.yaml",
        cli_overrides=workflow.config_settings.config,
    )
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
if plan_errors(config):  # what can be known before any job runs is checked before any job runs
    raise WorkflowError("invalid configuration:\n  - " + "\n  - ".join(plan_errors(config)))


wildcard_constraints:
    subject="[^/]+",
    fold="[^/]+",
    fmt="casme2|samm|smic|casme3a|mmew",
    synth_hash="[0-9a-f]{6}",
    evm="alpha[^/]+",
    model="[^/]+",


RESULTS = config["results"].rstrip("/")
if workflow.is_main_process and not workflow.dryrun:
    # a killed run (SIGKILL skips every clean-up) leaves hidden .<file>.<pid>.<random>.part folders beside
    # the outputs it was writing; those of writers no longer running go as the next run starts
    from microexpr.io import remove_partials

    for leftover in remove_partials(RESULTS):
        print(f"removed the partial output of an interrupted run: {leftover}", file=sys.stderr)
NAME = config["name"]
OUT = f"{RESULTS}/{NAME}"
DATASET = config["dataset"]
FORMATS = [DATASET["format"]] if isinstance(DATASET["format"], str) else list(DATASET["format"])
COMPOSITE = len(FORMATS) > 1
BYO = FORMATS == ["manifest"]
if "manifest" in FORMATS and COMPOSITE:
    raise WorkflowError("config key 'dataset.format': a bring-your-own manifest cannot join a composite")
if BYO and not isinstance(DATASET["root"], str):
    raise WorkflowError("config key 'dataset.root': with format manifest it must be the path of the CSV")


def dataset_root(fmt):
    """The configured root of one dataset, or None for its synthetic stand-in."""
    root = DATASET["root"]
    if isinstance(root, dict):
        unknown = sorted(set(root) - set(FORMATS))
        if unknown:
            raise WorkflowError(f"config key 'dataset.root' names {unknown}, which are not in dataset.format {FORMATS}")
        return root.get(fmt)
    if root is not None and COMPOSITE:
        raise WorkflowError("config key 'dataset.root': a composite needs a mapping format -> root")
    return root


def source_datasets():
    """The source datasets of the run: a composite's parts, or what a bring-your-own CSV's optional
    dataset column names (none without that column)."""
    if BYO:
        from microexpr.datasets.byo import csv_datasets

        return csv_datasets(DATASET["root"]) if Path(DATASET["root"]).is_file() else []
    return FORMATS


EVM = config["evm"]
FACE = config["face"]
FLOW = config["flow"]
IMAGES = config["images"]
TRAIN = config["train"]
PROTOCOL = config["evaluation"]["protocol"]
if PROTOCOL == "lodo" and len(source_datasets()) < 2:
    raise WorkflowError("config key 'evaluation.protocol': lodo needs several datasets in dataset.format "
                        "(or, for a bring-your-own CSV, a dataset column naming two or more)")


def short_hash(obj):
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:6]


def synthetic_params(fmt):
    """Everything that defines a synthetic dataset (its folder name carries a hash of it)."""
    from microexpr.datasets.synthetic import GENERATOR_VERSION

    return {"format": fmt, "generator_version": GENERATOR_VERSION, **config["synthetic"]}


def flow_params():
    return dict(FLOW[FLOW["method"]])


def synthetic_dir(fmt):
    return f"{RESULTS}/synthetic/{fmt}_{short_hash(synthetic_params(fmt))}"


def data_roots():
    """format -> the folder its loader reads (the user's root or the synthetic stand-in)."""
    if BYO:
        return {"manifest": DATASET["root"]}
    return {f: dataset_root(f) or synthetic_dir(f) for f in FORMATS}


# Every parameter that defines a cached file is in its path (readable, or through a short hash), so
# changing one re-runs only what depends on it, and switching back finds the old files.
# EVM settings and training settings are *variants*: the {evm} and {model} wildcards of the rules
# below name them, and the registries map each tag back to its parameters. The configured ones are
# always registered; the experiment targets (rules/experiments.smk) register theirs, so an alpha sweep
# and a sampler ablation share every stage they have in common.
CROP_TAG = f"haar-{short_hash(FACE)}"
CROPS = f"{OUT}/crops/{CROP_TAG}"
EVM_VARIANTS = {}
MODEL_VARIANTS = {}


def _plain_number(x):
    """8.0 -> 8, so alpha 8 and alpha 8.0 name the same cached files."""
    return int(x) if float(x).is_integer() else float(x)


def register_evm(evm):
    """Tag of an EVM setting (registered for the rules); cropping changes what EVM sees, so the face
    settings join the hash (only when on, so older paths stay valid)."""
    evm = {**evm, "alpha": _plain_number(evm["alpha"])}
    tag = f"alpha{evm['alpha']:g}-{evm['filter']}-{short_hash({**evm, 'face': FACE} if FACE['detect'] else evm)}"
    EVM_VARIANTS[tag] = evm
    return tag


# settings that change where or how fast a fold runs, not what it learns
_NOT_IN_MODEL_TAG = ("device", "threads", "mem_mb", "runtime")


def register_model(train):
    """Tag of a training setting (registered for the rules)."""
    train = {**train, "streams": list(train["streams"])}
    learned = {k: v for k, v in train.items() if k not in _NOT_IN_MODEL_TAG}
    tag = f"{'+'.join(train['streams'])}-{train['sampler']}-w{train['width']}-seed{train['seed']}-{short_hash(learned)}"
    MODEL_VARIANTS[tag] = train
    return tag


EVM_TAG = register_evm(EVM)
MODEL_TAG = register_model(TRAIN)
FLOW_TAG = f"{FLOW['method']}-{short_hash(flow_params())}"
IMG_TAG = f"s{IMAGES['size']}-t{IMAGES['threshold']}-{short_hash(IMAGES)}"
# path templates with {evm} / {model} wildcards (the rules fill them; final_targets the configured ones)
MAGNIFIED = f"{OUT}/magnified/{{evm}}"
FLOWS = f"{OUT}/flow/{{evm}}/{FLOW_TAG}"
SHARDS = f"{OUT}/shards/{{evm}}/{FLOW_TAG}/{IMG_TAG}"
FIGURES = f"{OUT}/figures/{{evm}}/{FLOW_TAG}/{IMG_TAG}"
FOLDS = f"{OUT}/folds/{{evm}}/{FLOW_TAG}/{IMG_TAG}/{{model}}/{PROTOCOL}"
REPORTS = f"{OUT}/reports/{{evm}}/{FLOW_TAG}/{IMG_TAG}/{{model}}/{PROTOCOL}"
REPORT = REPORTS.format(evm=EVM_TAG, model=MODEL_TAG)


def evm_params(wildcards):
    try:
        return EVM_VARIANTS[wildcards.evm]
    except KeyError:
        raise WorkflowError(f"'{wildcards.evm}' is neither the configured EVM setting ({EVM_TAG}) nor one an "
                            "experiment asks for: set evm in the config (or experiments.alphas)") from None


def model_params(wildcards):
    try:
        return MODEL_VARIANTS[wildcards.model]
    except KeyError:
        raise WorkflowError(f"'{wildcards.model}' is neither the configured training setting ({MODEL_TAG}) nor "
                            "one an experiment asks for: set train in the config") from None


def run_config(wildcards):
    """The configuration one LOSO run was made with (its own EVM and training variant)."""
    # studies re-use runs and new clips use them; neither defines them
    cfg = {k: v for k, v in config.items() if k not in ("experiments", "predict")}
    return {**cfg, "evm": evm_params(wildcards), "train": model_params(wildcards)}


def report_of(evm_tag, model_tag):
    """The aggregate metrics of one (EVM variant, model variant) LOSO run."""
    return f"{REPORTS.format(evm=evm_tag, model=model_tag)}/metrics.json"


def manifest_input(wildcards):
    """Synthetic folders, or the users' coding sheets (editing a sheet re-runs the manifest)."""
    from microexpr.datasets import LOADERS
    from microexpr.errors import DatasetError

    if BYO:
        if not Path(DATASET["root"]).is_file():
            raise WorkflowError(f"config key 'dataset.root': manifest CSV not found: {DATASET['root']}")
        return [DATASET["root"]]
    inputs = []
    for fmt in FORMATS:
        root = dataset_root(fmt)
        if root is None:
            inputs.append(synthetic_dir(fmt))
            continue
        root = Path(root)
        if not root.is_dir():
            raise WorkflowError(f"config key 'dataset.root': {fmt} folder not found: {root}")
        if fmt == "smic":
            inputs.append(str(root))  # no sheet: the folder tree is the annotation
            continue
        try:
            sheet = Path(DATASET["sheet"]) if DATASET["sheet"] and not COMPOSITE else LOADERS[fmt].find_sheet(root)
        except DatasetError as exc:
            raise WorkflowError(f"config key 'dataset.sheet': {exc}") from None
        inputs.append(str(sheet))
    return inputs


PREDICT = config["predict"]
# new clips for the final model: a folder of them; its files are the rule's inputs (edits re-run it)
PREDICT_TAG = f"{Path(PREDICT['clips']).name}-{short_hash(PREDICT)}" if PREDICT["clips"] else "none"


def PREDICT_CLIPS(wildcards):
    if not PREDICT["clips"]:
        raise WorkflowError("config key 'predict.clips': give the folder of clips to classify, e.g. "
                            "--config predict=\"{clips: /data/new_clips, fps: 200}\"")
    folder = Path(PREDICT["clips"])
    if not folder.is_dir():
        raise WorkflowError(f"config key 'predict.clips': folder not found: {folder}")
    return sorted(str(p) for p in folder.iterdir() if not p.name.startswith("."))


def manifest_fingerprint():
    """What the manifest read, beyond its declared inputs: every file under the user's dataset roots
    (names, sizes, mtimes), or every image a bring-your-own CSV names. A change re-runs the manifest
    (params trigger); the per-subject fingerprints below then decide which subjects re-run. The
    workflow's own synthetic trees are inputs of the manifest already (regenerated, never edited)."""
    from microexpr.datasets.fingerprint import byo_fingerprint, tree_fingerprint

    if BYO:
        return byo_fingerprint(DATASET["root"])
    return tree_fingerprint(str(dataset_root(f)) for f in FORMATS if dataset_root(f) is not None)


_MANIFEST_CACHE = {}


def manifest_table():
    """The manifest as a table (read once per invocation and manifest version)."""
    from microexpr.datasets import read_manifest

    path = Path(checkpoints.manifest.get().output.manifest)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _MANIFEST_CACHE:
        _MANIFEST_CACHE[key] = read_manifest(path)
    return _MANIFEST_CACHE[key]


def subject_data(columns):
    """Param function: the fingerprint of one subject's manifest rows (these columns) and of the files
    they point at. Per-subject stages take the manifest as an ancient() input and this as a param, so a
    change re-runs exactly the subjects it touches."""
    from microexpr.datasets.fingerprint import subject_fingerprint

    def fingerprint(wildcards):
        return subject_fingerprint(manifest_table(), wildcards.subject, columns)

    return fingerprint


def class_list():
    """Class names in label-index order (sorted), the same for every subject's shard."""
    from microexpr.datasets import resolve_scheme
    from microexpr.datasets.byo import allowed_labels, csv_labels
    from microexpr.errors import DatasetError

    if BYO:
        try:
            labels = allowed_labels(DATASET["classes"])
        except DatasetError as exc:
            raise WorkflowError(f"config key 'dataset.classes': {exc}") from None
        return sorted(labels) if labels is not None else csv_labels(DATASET["root"])
    classes = set()
    for fmt in FORMATS:
        try:
            classes |= set(resolve_scheme(fmt, DATASET["classes"])[1].values())
        except DatasetError as exc:
            raise WorkflowError(f"config key 'dataset.classes': {exc}") from None
    return sorted(classes)


def manifest_subjects():
    """subject -> dataset for subjects with at least one usable clip (known once the manifest checkpoint ran)."""
    import pandas as pd

    path = checkpoints.manifest.get().output.manifest
    table = pd.read_csv(path, sep="\t", dtype={"subject": str}, usecols=["subject", "dataset"]).drop_duplicates()
    return dict(zip(table.subject, table.dataset))


def subjects():
    return sorted(manifest_subjects())


def folds():
    """LOSO: one fold per subject; LODO: one per source dataset. Refused when there is nothing to train
    on: a fold needs at least one other subject (or dataset)."""
    if PROTOCOL == "loso":
        found = subjects()
        if len(found) < 2:
            raise WorkflowError(f"LOSO needs at least two subjects with usable clips; the manifest "
                                f"{OUT}/manifest.tsv has {len(found)} ({', '.join(found) or 'none'}): see manifest_report.tsv")
        return found
    found = sorted(set(manifest_subjects().values()))
    if len(found) < 2:
        raise WorkflowError(f"LODO needs usable clips from at least two datasets; the manifest {OUT}/manifest.tsv "
                            f"has them from {', '.join(found) or 'none'}: see manifest_report.tsv")
    return found


def fold_subjects(fold):
    if PROTOCOL == "loso":
        return [fold]
    return sorted(s for s, d in manifest_subjects().items() if d == fold)


def all_shards(wildcards):
    return expand(f"{SHARDS}/{{subject}}.h5", evm=wildcards.evm, subject=subjects())


def magnify_inputs(wildcards):
    inputs = {"manifest": ancient(f"{OUT}/manifest.tsv")}  # what matters of it: params data (subject_data)
    if FACE["detect"]:
        inputs["crops"] = f"{CROPS}/{wildcards.subject}.tsv"
    return inputs


def shard_inputs(wildcards):
    """Computed flow for dataset clips; a bring-your-own manifest's images are read directly."""
    manifest = ancient(f"{OUT}/manifest.tsv")  # what matters of it: params data (subject_data)
    if BYO:
        return {"manifest": manifest}
    return {"flow": f"{FLOWS.format(evm=wildcards.evm)}/{wildcards.subject}.h5", "manifest": manifest}


def figure_inputs(wildcards):
    first = subjects()[0]
    return {"flow": f"{FLOWS.format(evm=wildcards.evm)}/{first}.h5",
            "shard": f"{SHARDS.format(evm=wildcards.evm)}/{first}.h5"}


def train_shards(wildcards):
    """Every subject's shard except the held-out ones: a fold never sees its test subjects."""
    held_out = set(fold_subjects(wildcards.fold))
    shards = SHARDS.format(evm=wildcards.evm)
    return [f"{shards}/{s}.h5" for s in subjects() if s not in held_out]


def test_shards(wildcards):
    shards = SHARDS.format(evm=wildcards.evm)
    return [f"{shards}/{s}.h5" for s in fold_subjects(wildcards.fold)]


def fold_outputs(name):
    def inputs(wildcards):
        folds_dir = FOLDS.format(evm=wildcards.evm, model=wildcards.model)
        return [f"{folds_dir}/{fold}/{name}" for fold in folds()]

    return inputs


def preprocess_targets(wildcards=None):
    """Input function: everything before training, for the configured settings. The shards are named
    themselves: a shard lost to a killed run is made again even when the files after it are current
    (Snakemake would otherwise take it for a spent intermediate)."""
    shards = SHARDS.format(evm=EVM_TAG)
    return [
        *[f"{shards}/{s}.h5" for s in subjects()],
        f"{shards}/index.tsv",
        *([] if BYO else [f"{FIGURES.format(evm=EVM_TAG)}/preprocessing.png"]),  # the figure shows a clip's onset and apex
    ]


def evaluate_targets(wildcards=None):
    """Input function of the target evaluate (the manifest, pre-processing and the report)."""
    return [f"{OUT}/manifest.tsv", f"{OUT}/manifest_report.tsv", *preprocess_targets(), f"{REPORT}/report.html"]


def final_targets(wildcards=None):
    """Input function of the target all (evaluate, and the final model)."""
    return [*evaluate_targets(), f"{REPORT}/final_model.pt"]


# The studies (rules/experiments.smk): each a list of LOSO runs, variant x seed.
EXPERIMENTS = ("alpha_sweep", "ablation_sampler", "ablation_streams")
EXP = config["experiments"]


def _seeded(train, seed):
    return register_model({**train, "seed": seed})


def experiment_runs(experiment):
    """One dict per LOSO run of a study: the variant it stands for, its seed and its cached files."""
    runs = []
    for seed in EXP["seeds"]:
        if experiment == "alpha_sweep":
            for alpha in EXP["alphas"]:
                runs.append({"variant": f"alpha {alpha:g}", "value": alpha, "seed": seed,
                             "evm": register_evm({**EVM, "alpha": alpha}), "model": _seeded(TRAIN, seed)})
        elif experiment == "ablation_sampler":
            for sampler in EXP["samplers"]:
                runs.append({"variant": sampler, "value": sampler, "seed": seed, "evm": EVM_TAG,
                             "model": _seeded({**TRAIN, "sampler": sampler}, seed)})
        elif experiment == "ablation_streams":
            for streams in EXP["streams"]:
                runs.append({"variant": "+".join(streams), "value": "+".join(streams), "seed": seed, "evm": EVM_TAG,
                             "model": _seeded({**TRAIN, "streams": list(streams)}, seed)})
        else:
            raise WorkflowError(f"unknown experiment {experiment!r}; known: {', '.join(EXPERIMENTS)}")
    for run in runs:
        run["metrics"] = report_of(run["evm"], run["model"])
    return runs


# registered at parse time, so the {evm} / {model} wildcards of every study resolve
EXPERIMENT_RUNS = {name: experiment_runs(name) for name in EXPERIMENTS}


def experiment_inputs(wildcards):
    if BYO and wildcards.experiment == "alpha_sweep":
        raise WorkflowError("alpha_sweep needs video clips; a bring-your-own manifest brings finished images")
    return [run["metrics"] for run in EXPERIMENT_RUNS[wildcards.experiment]]


def experiment_details(wildcards):
    """What the comparison page shows about how each variant was produced."""
    runs = EXPERIMENT_RUNS[wildcards.experiment]
    return {
        "runs": [{k: v for k, v in run.items() if k != "metrics"} for run in runs],
        "evm": {run["evm"]: EVM_VARIANTS[run["evm"]] for run in runs},
        "train": {run["model"]: MODEL_VARIANTS[run["model"]] for run in runs},
    }
