# What depends on the manifest (a checkpoint): subjects, folds, per-subject fingerprints and the
# input functions of the per-subject and per-fold rules, and the targets.
from microexpr.datasets.fingerprint import EVM_COLUMNS, SHARD_COLUMNS

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
    """Function of the wildcards: the fingerprint of one subject's manifest rows (these columns) and of
    the files they point at. Per-subject stages take the manifest as an ancient() input and this in
    their stamp, so a change re-runs exactly the subjects it touches."""
    from microexpr.datasets.fingerprint import subject_fingerprint

    def fingerprint(wildcards):
        return subject_fingerprint(manifest_table(), wildcards.subject, columns)

    return fingerprint


_STAGE_CODE = {}


def stage_code(script):
    """The fingerprint of the library code a rule's adapter script runs (microexpr.codefp)."""
    from microexpr.codefp import code_fingerprint

    if script not in _STAGE_CODE:
        _STAGE_CODE[script] = code_fingerprint(Path(workflow.basedir) / "workflow_scripts" / script)
    return _STAGE_CODE[script]


def stamp(output, script, **parts):
    """Input function: the job's stamp, ``.stamps/<first output>.json`` beside its first output, holding
    the fingerprint of its library code and ``parts`` (values, or functions of the wildcards: data
    fingerprints, settings). It is rewritten only when that changes, so a change to the code or the data
    re-runs the job by file times alone, with or without .snakemake/ (a copied results folder)."""
    from microexpr.io import write_stamp

    def make(wildcards):
        target = Path(output.format(**dict(wildcards.items())))
        content = {"code": stage_code(script), **{k: v(wildcards) if callable(v) else v for k, v in parts.items()}}
        return str(write_stamp(target.parent / ".stamps" / f"{target.name}.json", content))

    return make


def class_list():
    """Class names in label-index order (sorted), the same for every subject's shard."""
    from microexpr.datasets import resolve_scheme
    from microexpr.datasets.byo import byo_classes
    from microexpr.errors import DatasetError

    if BYO:
        try:
            return byo_classes(DATASET["classes"], DATASET["root"])
        except DatasetError as exc:
            raise WorkflowError(f"config key 'dataset.classes': {exc}") from None
    classes = set()
    for fmt in RUN_FORMATS:
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
            raise WorkflowError(
                f"LOSO needs at least two subjects with usable clips; the manifest "
                f"{OUT}/manifest.tsv has {len(found)} ({', '.join(found) or 'none'}): see manifest_report.tsv"
            )
        return found
    found = sorted(set(manifest_subjects().values()))
    if len(found) < 2:
        raise WorkflowError(
            f"LODO needs usable clips from at least two datasets; the manifest {OUT}/manifest.tsv "
            f"has them from {', '.join(found) or 'none'}: see manifest_report.tsv"
        )
    return found


def fold_subjects(fold):
    if PROTOCOL == "loso":
        return [fold]
    return sorted(s for s, d in manifest_subjects().items() if d == fold)


def all_shards(wildcards):
    return expand(f"{SHARDS}/{{subject}}.h5", evm=wildcards.evm, subject=subjects())


def all_flows(wildcards):
    """The subjects' flow files (the report's onset thumbnails); a bring-your-own run computes none."""
    if BYO:
        return []
    return expand(f"{FLOWS}/{{subject}}.h5", evm=wildcards.evm, subject=subjects())


def magnify_inputs(wildcards):
    inputs = {"manifest": ancient(f"{OUT}/manifest.tsv")}  # what matters of it: the stamp's data (subject_data)
    if FACE["detect"]:
        inputs["crops"] = f"{CROPS}/{wildcards.subject}.tsv"
    return inputs


def shard_inputs(wildcards):
    """Computed flow for dataset clips; a bring-your-own manifest's images are read directly."""
    manifest = ancient(f"{OUT}/manifest.tsv")  # what matters of it: the stamp's data (subject_data)
    if BYO:
        return {"manifest": manifest}
    return {"flow": f"{FLOWS.format(evm=wildcards.evm)}/{wildcards.subject}.h5", "manifest": manifest}


def figure_inputs(wildcards):
    first = subjects()[0]
    return {
        "flow": f"{FLOWS.format(evm=wildcards.evm)}/{first}.h5",
        "shard": f"{SHARDS.format(evm=wildcards.evm)}/{first}.h5",
    }


def learning_inputs(wildcards):
    """The per-subject files a run learns from: the shards, or a hand-crafted method's features."""
    feat = MODEL_FEATURES.get(wildcards.model)
    if feat is None:
        return SHARDS.format(evm=wildcards.evm)
    if BYO:
        raise WorkflowError(
            f"config key 'train.model': {model_params(wildcards)['model']} describes the "
            "onset..offset frames, which a bring-your-own manifest (dataset.format: manifest) does not have"
        )
    return FEATURES.format(evm=wildcards.evm, feat=feat)


def train_shards(wildcards):
    """Every subject's shard (or features) except the held-out ones: a fold never sees its test subjects."""
    held_out = set(fold_subjects(wildcards.fold))
    shards = learning_inputs(wildcards)
    return [f"{shards}/{s}.h5" for s in subjects() if s not in held_out]


def test_shards(wildcards):
    shards = learning_inputs(wildcards)
    return [f"{shards}/{s}.h5" for s in fold_subjects(wildcards.fold)]


def final_inputs(wildcards):
    """What the final model learns from: every subject's shard (or features)."""
    return [f"{learning_inputs(wildcards)}/{s}.h5" for s in subjects()]


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
        *(
            [] if BYO else [f"{FIGURES.format(evm=EVM_TAG)}/preprocessing.png"]
        ),  # the figure shows a clip's onset and apex
    ]


def evaluate_targets(wildcards=None):
    """Input function of the target evaluate (the manifest, pre-processing and the report)."""
    return [f"{OUT}/manifest.tsv", f"{OUT}/manifest_report.tsv", *preprocess_targets(), f"{REPORT}/report.html"]


def final_targets(wildcards=None):
    """Input function of the target all (evaluate, and the final model)."""
    return [*evaluate_targets(), f"{REPORT}/final_model.pt"]
