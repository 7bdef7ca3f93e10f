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

RESULTS = config["results"].rstrip("/")
NAME = config["name"]
OUT = f"{RESULTS}/{NAME}"
DATASET = config["dataset"]
SYNTHETIC = DATASET["root"] is None


def synthetic_params():
    """Everything that defines the synthetic dataset (its folder name carries a hash of it)."""
    from microexpr.datasets.synthetic import GENERATOR_VERSION

    return {"format": DATASET["format"], "generator_version": GENERATOR_VERSION, **config["synthetic"]}


def _short_hash(obj):
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:8]


SYNTH_ID = f"{DATASET['format']}_{_short_hash(synthetic_params())}"
SYNTH_DIR = f"{RESULTS}/synthetic/{SYNTH_ID}"
DATA_ROOT = SYNTH_DIR if SYNTHETIC else DATASET["root"]


def manifest_input(wildcards):
    """The synthetic folder, or the user's coding sheet (so editing the sheet re-runs the manifest)."""
    if SYNTHETIC:
        return {"data": SYNTH_DIR}
    from microexpr.datasets import LOADERS
    from microexpr.errors import DatasetError

    root = Path(DATASET["root"])
    if not root.is_dir():
        raise WorkflowError(f"config key 'dataset.root': folder not found: {root}")
    try:
        sheet = Path(DATASET["sheet"]) if DATASET["sheet"] else LOADERS[DATASET["format"]].find_sheet(root)
    except DatasetError as exc:
        raise WorkflowError(f"config key 'dataset.sheet': {exc}") from None
    return {"data": str(sheet)}


def final_targets():
    return [f"{OUT}/manifest.tsv", f"{OUT}/manifest_report.tsv"]
