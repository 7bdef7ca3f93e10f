# Config validation, paths and input functions shared by all rules.
import hashlib
import json
from pathlib import Path

from microexpr.config import ConfigError, validate_config


try:
    validate_config(
        config,
        Path(workflow.basedir) / "config" / "schemas" / "config.schema.yaml",
        cli_overrides=workflow.config_settings.config,
    )
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None


wildcard_constraints:
    subject="[^/]+",
    fold="[^/]+",
    fmt="casme2|samm|smic|casme3a|mmew",
    synth_hash="[0-9a-f]{6}",


RESULTS = config["results"].rstrip("/")
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


EVM = config["evm"]
FACE = config["face"]
FLOW = config["flow"]
IMAGES = config["images"]
TRAIN = config["train"]
PROTOCOL = config["evaluation"]["protocol"]
if PROTOCOL == "lodo" and not COMPOSITE:
    raise WorkflowError("config key 'evaluation.protocol': lodo needs several datasets in dataset.format")


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
CROP_TAG = f"haar-{short_hash(FACE)}"
CROPS = f"{OUT}/crops/{CROP_TAG}"
# cropping changes what EVM sees, so its settings join the EVM hash (only when on: old paths stay valid)
EVM_TAG = f"alpha{EVM['alpha']:g}-{EVM['filter']}-{short_hash({**EVM, 'face': FACE} if FACE['detect'] else EVM)}"
FLOW_TAG = f"{FLOW['method']}-{short_hash(flow_params())}"
IMG_TAG = f"s{IMAGES['size']}-t{IMAGES['threshold']}-{short_hash(IMAGES)}"
MAGNIFIED = f"{OUT}/magnified/{EVM_TAG}"
FLOWS = f"{OUT}/flow/{EVM_TAG}/{FLOW_TAG}"
SHARDS = f"{OUT}/shards/{EVM_TAG}/{FLOW_TAG}/{IMG_TAG}"
FIGURES = f"{OUT}/figures/{EVM_TAG}/{FLOW_TAG}/{IMG_TAG}"
MODEL_TAG = (
    f"{'+'.join(TRAIN['streams'])}-{TRAIN['sampler']}-w{TRAIN['width']}-seed{TRAIN['seed']}-"
    f"{short_hash({k: v for k, v in TRAIN.items() if k not in ('device', 'threads', 'mem_mb', 'runtime')})}"
)
FOLDS = f"{OUT}/folds/{EVM_TAG}/{FLOW_TAG}/{IMG_TAG}/{MODEL_TAG}/{PROTOCOL}"
REPORT = f"{OUT}/reports/{EVM_TAG}/{FLOW_TAG}/{IMG_TAG}/{MODEL_TAG}/{PROTOCOL}"


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
    """LOSO: one fold per subject; LODO: one per source dataset."""
    if PROTOCOL == "loso":
        return subjects()
    return sorted(set(manifest_subjects().values()))


def fold_subjects(fold):
    if PROTOCOL == "loso":
        return [fold]
    return sorted(s for s, d in manifest_subjects().items() if d == fold)


def all_shards(wildcards):
    return expand(f"{SHARDS}/{{subject}}.h5", subject=subjects())


def magnify_inputs(wildcards):
    inputs = {"manifest": f"{OUT}/manifest.tsv"}
    if FACE["detect"]:
        inputs["crops"] = f"{CROPS}/{wildcards.subject}.tsv"
    return inputs


def shard_inputs(wildcards):
    """Computed flow for dataset clips; a bring-your-own manifest's images are read directly."""
    if BYO:
        return {"manifest": f"{OUT}/manifest.tsv"}
    return {"flow": f"{FLOWS}/{wildcards.subject}.h5", "manifest": f"{OUT}/manifest.tsv"}


def figure_inputs(wildcards):
    first = subjects()[0]
    return {"flow": f"{FLOWS}/{first}.h5", "shard": f"{SHARDS}/{first}.h5"}


def train_shards(wildcards):
    """Every subject's shard except the held-out ones: a fold never sees its test subjects."""
    held_out = set(fold_subjects(wildcards.fold))
    return [f"{SHARDS}/{s}.h5" for s in subjects() if s not in held_out]


def test_shards(wildcards):
    return [f"{SHARDS}/{s}.h5" for s in fold_subjects(wildcards.fold)]


def fold_outputs(name):
    def inputs(wildcards):
        return expand(f"{FOLDS}/{{fold}}/{name}", fold=folds())

    return inputs


def final_targets():
    return [
        f"{OUT}/manifest.tsv",
        f"{OUT}/manifest_report.tsv",
        f"{SHARDS}/index.tsv",
        *([] if BYO else [f"{FIGURES}/preprocessing.png"]),  # the figure shows a clip's onset and apex
        f"{REPORT}/report.html",
    ]
