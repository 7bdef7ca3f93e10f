# The configuration: validated against the schema and checked across keys before any job runs; the
# dataset roots and run-level names every other rules file uses.
import sys
from pathlib import Path

from microexpr.config import SCHEMA_PATH, ConfigError, plan_errors, validate_config
from microexpr.datasets import format_names, get_format
from microexpr.plugins import PluginError, load as load_plugins
from microexpr.variants import short_hash

try:  # the plugins first: what they register (flow methods, streams, models, formats) can be configured
    load_plugins(config.get("plugins") or [])
    validate_config(
        config,
        SCHEMA_PATH,
        cli_overrides=workflow.config_settings.config,
    )
except (ConfigError, PluginError) as exc:
    raise WorkflowError(str(exc)) from None
# a named recipe (train.recipe) sets its paper's training values; the train keys of the user's own
# configuration files and --config override it, the default config/config.yaml's do not
from microexpr.recipes import RecipeError, apply_recipe, explicit_train_keys

_DEFAULT_CONFIG = (Path(workflow.basedir) / "config" / "config.yaml").resolve()
try:
    config["train"] = apply_recipe(
        config["train"],
        explicit_train_keys(
            [f for f in workflow.config_settings.configfiles if Path(f).resolve() != _DEFAULT_CONFIG],
            workflow.config_settings.config,
        ),
    )
except RecipeError as exc:
    raise WorkflowError(str(exc)) from None
if plan_errors(config):  # what can be known before any job runs is checked before any job runs
    raise WorkflowError("invalid configuration:\n  - " + "\n  - ".join(plan_errors(config)))


wildcard_constraints:
    subject="[^/]+",
    fold="[^/]+",
    fmt="|".join(format_names()),
    synth_hash="[0-9a-f]{6}",
    evm="alpha[^/]+",
    model="[^/]+",
    feat="[^/]+",


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
RUN_FORMATS = [DATASET["format"]] if isinstance(DATASET["format"], str) else list(DATASET["format"])
COMPOSITE = len(RUN_FORMATS) > 1
BYO = RUN_FORMATS == ["manifest"]
if "manifest" in RUN_FORMATS and COMPOSITE:
    raise WorkflowError("config key 'dataset.format': a bring-your-own manifest cannot join a composite")
if BYO and not isinstance(DATASET["root"], str):
    raise WorkflowError("config key 'dataset.root': with format manifest it must be the path of the CSV")
if BYO and Path(DATASET["root"]).is_file():  # a CSV that cannot be read stops the run here, naming it
    from microexpr.datasets.byo import read_csv_table
    from microexpr.errors import DatasetError

    try:
        read_csv_table(DATASET["root"])
    except DatasetError as exc:
        raise WorkflowError(f"config key 'dataset.root': {exc}") from None


def dataset_root(fmt):
    """The configured root of one dataset, or None for its synthetic stand-in."""
    root = DATASET["root"]
    if isinstance(root, dict):
        unknown = sorted(set(root) - set(RUN_FORMATS))
        if unknown:
            raise WorkflowError(
                f"config key 'dataset.root' names {unknown}, which are not in dataset.format {RUN_FORMATS}"
            )
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
    return RUN_FORMATS


EVM = config["evm"]
FACE = config["face"]
# the face settings that name cached files: detector and align only where they are not the original haar
# and false, so that the tags of configurations without them stay as they were
FACE_KEY = {k: v for k, v in FACE.items() if not ((k, v) in (("detector", "haar"), ("align", False)))}
FLOW = config["flow"]
IMAGES = config["images"]
TRAIN = config["train"]
FEATURES_CONFIG = config["features"]
PROTOCOL = config["evaluation"]["protocol"]
if PROTOCOL == "lodo" and len(source_datasets()) < 2:
    raise WorkflowError(
        "config key 'evaluation.protocol': lodo needs several datasets in dataset.format "
        "(or, for a bring-your-own CSV, a dataset column naming two or more)"
    )


def synthetic_params(fmt):
    """Everything that defines a synthetic dataset (its folder name carries a hash of it)."""
    from microexpr.datasets.synthetic import GENERATOR_VERSION

    return {"format": fmt, "generator_version": GENERATOR_VERSION, **config["synthetic"]}


def flow_params():
    """The flow method's parameters, and max_height where one is set (absent otherwise, so the flow tags of
    configurations without it stay as they were)."""
    working = {"max_height": FLOW["max_height"]} if FLOW.get("max_height") is not None else {}
    return {**FLOW[FLOW["method"]], **working}


def synthetic_dir(fmt):
    return f"{RESULTS}/synthetic/{fmt}_{short_hash(synthetic_params(fmt))}"


def data_roots():
    """format -> the folder its loader reads (the user's root or the synthetic stand-in)."""
    if BYO:
        return {"manifest": DATASET["root"]}
    return {f: dataset_root(f) or synthetic_dir(f) for f in RUN_FORMATS}


from microexpr.config import run_dataset_problem

_RUN_DATASET = run_dataset_problem(OUT, RESULTS, data_roots(), record=workflow.is_main_process and not workflow.dryrun)
if _RUN_DATASET:
    raise WorkflowError(_RUN_DATASET)


def manifest_input(wildcards):
    """Synthetic folders, or the users' coding sheets (editing a sheet re-runs the manifest)."""
    from microexpr.errors import DatasetError

    if BYO:
        if not Path(DATASET["root"]).is_file():
            raise WorkflowError(f"config key 'dataset.root': manifest CSV not found: {DATASET['root']}")
        return [DATASET["root"]]
    inputs = []
    for fmt in RUN_FORMATS:
        root = dataset_root(fmt)
        if root is None:
            inputs.append(synthetic_dir(fmt))
            continue
        root = Path(root)
        if not root.is_dir():
            raise WorkflowError(f"config key 'dataset.root': {fmt} folder not found: {root}")
        try:  # the coding sheet (or, where the folders are the annotation, the root)
            watched = get_format(fmt).watched(root, DATASET["sheet"] if not COMPOSITE else None)
        except DatasetError as exc:
            raise WorkflowError(f"config key 'dataset.sheet': {exc}") from None
        inputs.append(str(watched))
    return inputs


PREDICT = config["predict"]
# new clips for the final model: a folder of them; its files are the rule's inputs (edits re-run it)
PREDICT_TAG = f"{Path(PREDICT['clips']).name}-{short_hash(PREDICT)}" if PREDICT["clips"] else "none"


def PREDICT_CLIPS(wildcards):
    if not PREDICT["clips"]:
        raise WorkflowError(
            "config key 'predict.clips': give the folder of clips to classify, e.g. "
            '--config predict="{clips: /data/new_clips, fps: 200}"'
        )
    folder = Path(PREDICT["clips"])
    if not folder.is_dir():
        raise WorkflowError(f"config key 'predict.clips': folder not found: {folder}")
    return sorted(str(p) for p in folder.iterdir() if not p.name.startswith("."))


# long videos for the target spot (rules/spot.smk)
from microexpr.datasets.longvideo import LONG_FORMATS
from microexpr.errors import DatasetError

SPOTTING = config["spotting"]


def spot_synthetic_params():
    """The synthetic long-video set used when spotting.root is null: the format's reference set with the
    config's spotting.synthetic settings over it (its folder name carries a hash of them)."""
    from microexpr.datasets.synthetic_long import GENERATOR_VERSION, REFERENCE_SETS, LongSynthConfig

    params = {**REFERENCE_SETS[SPOTTING["dataset"]], **SPOTTING["synthetic"]}
    try:
        LongSynthConfig(**params).validate()
    except (TypeError, DatasetError) as exc:
        raise WorkflowError(f"config key 'spotting.synthetic': {exc}") from None
    return {**params, "generator_version": GENERATOR_VERSION}


def spot_root():
    if SPOTTING["root"]:
        if not Path(SPOTTING["root"]).is_dir():
            raise WorkflowError(f"config key 'spotting.root': folder not found: {SPOTTING['root']}")
        return SPOTTING["root"]
    return f"{RESULTS}/synthetic_long/{SPOTTING['dataset']}_{short_hash(spot_synthetic_params())}"


def spot_root_fingerprint():
    from microexpr.datasets.fingerprint import tree_fingerprint

    return tree_fingerprint([spot_root()]) if SPOTTING["root"] else None


SPOT_TAG = f"{SPOTTING['dataset']}-{short_hash({**SPOTTING, 'root': str(SPOTTING['root'])})}"


def manifest_fingerprint():
    """What the manifest read, beyond its declared inputs: every file under the user's dataset roots
    (names, sizes, mtimes), or every image a bring-your-own CSV names. A change re-runs the manifest
    (through its stamp); the per-subject fingerprints below then decide which subjects re-run. The
    workflow's own synthetic trees are inputs of the manifest already (regenerated, never edited)."""
    from microexpr.datasets.fingerprint import byo_fingerprint, tree_fingerprint

    if BYO:
        return byo_fingerprint(DATASET["root"])
    return tree_fingerprint(str(dataset_root(f)) for f in RUN_FORMATS if dataset_root(f) is not None)
