"""The Snakemake workflow: lint, dry run, config errors, and the real default run of what exists."""
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from microexpr.datasets.synthetic import SynthConfig, generate
from conftest import ROOT

pytestmark = pytest.mark.workflow


def _keep_snakemake_records():
    # Snakemake deletes a record folder under .snakemake/ that its last record left empty (os.removedirs, which
    # climbs to metadata/ and incomplete/ themselves); a second Snakemake starting then fails on the missing
    # folder (FileNotFoundError in PC_NAME_MAX lookup). A file no record is named after keeps both folders.
    for name in ("metadata", "incomplete"):
        folder = ROOT / ".snakemake" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".keep").touch()


def snakemake(*args, check=True):
    # tests run in parallel processes (make test: pytest-xdist), each Snakemake in the repository folder with
    # its own results folder; Snakemake's lock files there are shared by all, so the tests do without them
    lock = [] if "--unlock" in args else ["--nolock"]
    _keep_snakemake_records()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *lock, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_lint():
    out = snakemake("--lint")
    assert "Lints for" not in out.stdout + out.stderr


def test_the_rule_files_are_snakefmt_formatted():
    files = [str(ROOT / "Snakefile"), *map(str, sorted((ROOT / "rules").glob("*.smk")))]
    out = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *files], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"run `snakefmt Snakefile rules/` (settings in pyproject.toml):\n{out.stderr[-2000:]}"


def test_dry_run_of_the_default_config(tmp_path):
    out = snakemake("-n", "--config", f"results={tmp_path}")
    text = out.stdout + out.stderr
    for rule in ("synthesize", "manifest", "all"):  # later stages wait for the manifest checkpoint
        assert rule in text


@pytest.mark.parametrize("config,messages", [
    # every schema error of a configuration is named in one message (one run checks several)
    (["evm={alpha: abc}", "alpah=8", "synthetic={subjects: many}", "experiments={samplers: [none, smoth]}",
      "train={model: resnet50}"],
     ["config key 'evm.alpha' must be of type number", "unknown config key 'alpah'",
      "config key 'synthetic.subjects' must be of type integer", "config key 'experiments.samplers.1' is 'smoth'",
      "config key 'train.model' is 'resnet50'; allowed: ['htnet', 'mscnn', 'offapexnet', 'rcna', 'sssnet', 'ststnet', 'hoof', 'lbpsip', 'lbptop']"]),
    (["evaluation={protocol: lodo}"], ["lodo needs several datasets"]),
    (["dataset={format: [casme2, samm], root: /data/x}"], ["a composite needs a mapping format -> root"]),
    # across keys, before any job runs (every such check: tests/test_config.py; this shows the wiring)
    (["dataset={format: casme3a, classes: all}"], ["config key 'evm.high_hz' (20.0) is above half the frame rate of casme3a (30 fps)"]),
])
def test_config_errors_stop_the_run(tmp_path, config, messages):
    out = snakemake("-n", "--config", f"results={tmp_path}", *config, check=False)
    assert out.returncode != 0
    for message in messages:
        assert message in out.stdout + out.stderr, message


def test_quoted_alpha_in_a_config_file_stops_the_run(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('evm:\n  alpha: "8"\n')
    out = snakemake("-n", "--configfile", str(bad), "--config", f"results={tmp_path}", check=False)
    assert out.returncode != 0 and "config key 'evm.alpha' must be of type number" in out.stderr + out.stdout


def test_nested_command_line_values_are_typed(tmp_path):
    snakemake("-n", "--config", f"results={tmp_path}", "evm={alpha: 4, filter: iir}", "synthetic={subjects: 3}")


def test_default_run_through_preprocessing(tmp_path):
    """The default configuration (3 of its 8 subjects: those whose sheet rows hold the planted quirks) up to the
    shards (training takes minutes: see make run and test_tiny_end_to_end), then nothing to redo."""
    results = tmp_path / "results"
    until = ["preprocess"]
    half = "synthetic={subjects: 3}"  # the default configuration with 3 of its 8 subjects (suite time)
    snakemake(*until, "--config", f"results={results}", half)
    out = results / "synthetic_casme2"
    manifest = pd.read_csv(out / "manifest.tsv", sep="\t", dtype={"subject": str})
    report = pd.read_csv(out / "manifest_report.tsv", sep="\t")
    assert len(manifest) == 3 * 12
    assert sorted(report.code) == ["apex_missing", "label_not_in_scheme", "label_not_in_scheme"]
    subjects = sorted(manifest.subject.unique())
    for stage in ("magnified", "flow", "shards"):
        files = sorted(p.stem for p in (out / stage).rglob("*.h5"))
        assert files == subjects, stage
    index = pd.read_csv(next((out / "shards").rglob("index.tsv")), sep="\t")
    assert index.clips.sum() == 36 and index.samples.sum() == 360
    assert next((out / "figures").rglob("preprocessing.png")).stat().st_size > 10_000
    rules = {p.relative_to(results / "logs").parts[0] for p in (results / "logs").rglob("*.log")}
    assert rules == {"synthesize", "manifest", "magnify", "flow", "shard", "shard_index", "figure_preprocessing"}
    assert not (out / "folds").exists()
    assert "36 clips kept" in (results / "logs" / "manifest" / "synthetic_casme2.log").read_text()
    assert list((results / "benchmarks" / "flow").rglob("*.tsv"))
    again = snakemake("-n", *until, "--config", f"results={results}", half)
    assert "Nothing to be done" in again.stdout + again.stderr


TINY = ["synthetic={subjects: 3, clips_per_subject: 4, height: 64, width: 56}", "images={size: 32}",
        "train={width: 8, max_epochs: 3, patience: 5, batch_size: 16}"]
TINY_TRAIN = {"width": 8, "max_epochs": 3, "patience": 5, "batch_size": 16}


def write_tree(fmt, out, subjects=3, clips=4, height=64, width=56):
    """A synthetic dataset written to disk with the command a user would run."""
    subprocess.run([sys.executable, "-m", "microexpr", "synth", "--format", fmt, "--out", str(out), "--quiet",
                    "--subjects", str(subjects), "--clips-per-subject", str(clips), "--height", str(height),
                    "--width", str(width)], check=True, capture_output=True, cwd=ROOT, timeout=300)
    return out


def write_config(path, **sections):
    """A config file as a user writes one: only the keys that differ from config/config.yaml."""
    import yaml

    path.write_text(yaml.safe_dump(sections, sort_keys=False))
    return path


def test_tiny_end_to_end_from_a_root_on_disk(tiny_run):
    """Report with pooled and per-fold metrics, training curves and the misclassified clips; folds
    never train on their test subject; the run is listed in results/<name>/index.html; snakemake
    --report works."""
    tmp_path, root, cfg, run = tiny_run
    assert "rule synthesize" not in run.stderr
    out = tmp_path / "results" / "tiny"
    folds = sorted((out / "folds").rglob("metrics.json"))
    assert len(folds) == 3
    for path in folds:
        fold = json.loads(path.read_text())
        held_out = fold["fold"]
        assert held_out == path.parent.name and fold["test_subjects"] == [held_out]
        assert held_out not in fold["train_subjects"] and len(fold["train_subjects"]) == 2
        assert all(not p.endswith(f"/{held_out}.h5") for p in fold["train_shards"])
        assert fold["test_shards"] == [s for s in fold["test_shards"] if s.endswith(f"/{held_out}.h5")] != []
        assert set(pd.read_csv(path.parent / "predictions.csv", dtype=str).subject) == {held_out}
    report_dir = next((out / "reports").rglob("report.html")).parent
    metrics = json.loads((report_dir / "metrics.json").read_text())
    assert metrics["n_folds"] == 3 and metrics["n_clips"] == 12 and metrics["datasets"] == ["casme2"]
    assert set(metrics["pooled"]) == {"accuracy", "uf1", "uar"} and set(metrics["per_fold_std"]) == {"accuracy", "uf1", "uar"}
    assert len(metrics["per_class"]) == 5 and metrics["config"]["train"]["width"] == 8
    assert len(metrics["per_fold_class"]) == 3 * 5 and metrics["git_commit"] and metrics["created"]
    page = (report_dir / "report.html").read_text()
    for text in ("Confusion matrix", "Per fold", "F1 per class and fold", "Training curves", 'id="curves"',
                 "Misclassified clips", "Training configuration", "data:image/png;base64",
                 "Synthetic data",  # the tree holds the generator's ground truth: the report says so
                 "Published: the MSCNN paper on casme2", "0.5650"):
        assert text in page, text
    wrong = (metrics["pooled"]["accuracy"] < 1)
    assert ('id="gallery"' in page) == wrong and (page.count('alt="flow image"') == min(24, 12 - round(12 * metrics["pooled"]["accuracy"])))
    shown = page.count('alt="flow image"') + page.count('alt="flow image (correct)"')
    assert page.count(", AU ") == shown  # each clip shown (mistakes and correct ones) with its coding sheet's AUs
    assert page.count('alt="onset"') == shown  # with its magnified onset frame, from the subject's flow file
    assert page.count('alt="mask"') == shown
    # each variant folder of the run with the settings behind its hash, as metrics.json names them
    import yaml

    params = yaml.safe_load((report_dir / "params.yaml").read_text())
    assert [params[k]["tag"] for k in ("evm", "flow", "images", "model")] == list(report_dir.relative_to(out / "reports").parts[:4])
    assert metrics["tags"] == {k: params[k]["tag"] for k in ("evm", "flow", "images", "model")}
    assert params["images"]["settings"] == metrics["config"]["images"] and params["protocol"] == "loso"
    assert params["model"]["settings"]["width"] == 8 and params["evm"]["settings"]["alpha"] == metrics["config"]["evm"]["alpha"]
    assert (report_dir / "curves.png").stat().st_size > 10_000
    # the report's tables, to paste into a paper: CSV with the numbers the TSVs hold, LaTeX booktabs
    exported = pd.read_csv(report_dir / "tables" / "per_class.csv")
    tsv = pd.read_csv(report_dir / "per_class.tsv", sep="\t")
    assert exported["class"].tolist() == tsv["class"].tolist() and np.allclose(exported.f1, tsv.f1, atol=1e-4)
    pooled = pd.read_csv(report_dir / "tables" / "pooled.csv").iloc[0]
    assert np.allclose([pooled["uf1"], pooled["uf1 95% low"], pooled["uf1 95% high"]],
                       [metrics["pooled"]["uf1"], *metrics["pooled_ci"]["uf1"]], atol=1e-4)
    tex = (report_dir / "tables" / "per_fold.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and tex.count("\\\\") == 1 + 3  # header and 3 folds
    # the data section: clips per subject and class, and every sheet row the manifest dropped or repaired
    per_subject = pd.read_csv(report_dir / "tables" / "clips_per_subject.csv", dtype={"subject": str})
    assert per_subject.clips.sum() == metrics["n_clips"] and sorted(per_subject.subject) == ["sub01", "sub02", "sub03"]
    assert list(per_subject.columns[1:-1]) == metrics["classes"] and 'id="clips-per-subject"' in page
    lost = pd.read_csv(out / "manifest_report.tsv", sep="\t")
    assert len(lost) > 0 and page.count("<tr>", page.index('id="lost-rows"')) >= len(lost)  # the generator's quirks
    assert len(pd.read_csv(report_dir / "tables" / "rows_dropped_or_repaired.csv")) == len(lost)
    index = (out / "index.html").read_text()
    assert str((report_dir / "report.html").relative_to(out)) in index and f"{metrics['pooled']['uf1']:.3f}" in index
    assert f'href="{(report_dir / "final_model.pt").relative_to(out)}">final model</a>' in index  # rebuilt after it
    assert "index.html" in run.stdout + run.stderr  # the end-of-run message points there
    report = tmp_path / "snakemake_report.html"
    snakemake("--report", str(report), "--configfile", str(cfg))
    assert report.stat().st_size > 50_000
    text = report.read_text()
    assert "leave-one-subject-out" in text and "Training curves per fold" in text  # description, registered figures
    # several folds per GPU: each fold job takes one gpu_share; on a CPU the resource changes nothing
    plan = snakemake("-n", "--forcerun", "train_fold", "--resources", "gpu_share=2", "--configfile", str(cfg))
    assert (plan.stdout + plan.stderr).count("gpu_share=1") == 3 + 1  # the folds and the final model


def test_flow_at_a_working_height_is_a_new_flow_variant_on_the_same_evm(tiny_run):
    base, _, cfg, _ = tiny_run
    existing = {p.name for p in (base / "results" / "tiny" / "flow").glob("*/*")}
    plan = snakemake("-n", "--configfile", str(cfg), "--config", "flow={max_height: 40}")
    text = plan.stdout + plan.stderr
    tags = set(re.findall(r"/flow/[^/]+/(tvl1-[0-9a-f]+)/sub0", text))
    assert len(existing) == 1 and len(tags) == 1 and not tags & existing, (existing, tags)
    assert "rule flow" in text and "rule magnify" not in text  # the magnified clips are re-used


def test_small_models_end_to_end_with_final_model_and_predict(tiny_copy):
    """STSTNet on the same tree: the shards are re-used (they hold the uvs stream), folds choose on whole
    training subjects, the final model's bundle classifies a clip. An ensemble of STSTNet and OFF-ApexNet
    runs to its report and final model, which classifies the clip too. (train.choose runs end to end in
    test_byo, and the final model's pick is tested in test_train.)"""
    tmp_path, root, cfg = tiny_copy
    model = "ststnet"
    config = ["--configfile", str(cfg), "--config",
              f"train={{model: {model}, validation: subjects, max_epochs: 3, patience: 5, batch_size: 16}}"]
    run = snakemake(*config)
    assert "rule shard" not in run.stderr and "rule magnify" not in run.stderr
    out = tmp_path / "results" / "tiny"
    folds = [json.loads(p.read_text()) for p in (out / "folds").rglob(f"{model}-*/loso/*/metrics.json")]
    assert len(folds) == 3
    for fold in folds:
        assert fold["model"] == model and fold["streams"] == ["uvs"] and fold["selection"]["validation"] == "subjects"
        (val,) = fold["selection"]["validation_subjects"]
        assert len(val) == 1 and val[0] in fold["train_subjects"] and val[0] not in fold["test_subjects"]
    bundle = next((out / "reports").rglob(f"{model}-*/loso/final_model.pt"))
    clip = next(p for p in (root / "Cropped").glob("*/*") if p.is_dir())
    pred = subprocess.run([sys.executable, "-m", "microexpr", "predict", "--model", str(bundle), str(clip), "--fps", "200"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert pred.returncode == 0, pred.stderr
    assert str(clip) in pred.stdout and "surprise" in pred.stdout  # one line with every class's probability
    # OFF-ApexNet, as the second member of an ensemble with STSTNet, to the final model and predict
    ensemble = ("train={ensemble: [{model: ststnet, validation: none, max_epochs: 2}, "
                "{model: offapexnet, validation: none, max_epochs: 1}]}")
    snakemake("--configfile", str(cfg), "--config", ensemble)
    folds = [json.loads(p.read_text()) for p in (out / "folds").rglob("ensemble2-*/loso/*/metrics.json")]
    assert len(folds) == 3
    for fold in folds:
        members = fold["ensemble"]["members"]
        assert [(m["model"], m["best_epoch"]) for m in members] == [("ststnet", 1), ("offapexnet", 0)]
    off = [json.loads(p.read_text()) for p in (out / "folds").rglob("ensemble2-*/loso/*/members/m2/metrics.json")]
    assert len(off) == 3 and all(f["model"] == "offapexnet" and f["streams"] == ["uvs"] for f in off)
    report = next((out / "reports").rglob("ensemble2-*/loso/report.html")).read_text()
    assert 'id="ensemble-members"' in report and "member 2" in report
    bundle = next((out / "reports").rglob("ensemble2-*/loso/final_model.pt"))
    pred = subprocess.run([sys.executable, "-m", "microexpr", "predict", "--model", str(bundle), str(clip), "--fps", "200"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert pred.returncode == 0 and str(clip) in pred.stdout, pred.stderr


def _summary(*config):
    out = snakemake("evaluate", "--summary", "--config", *config)
    rows = [line.split("\t") for line in out.stdout.splitlines() if "\t" in line]
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:]]


def test_changing_alpha_reruns_only_evm_and_downstream(tmp_path):
    tiny = "synthetic={subjects: 2, clips_per_subject: 2, height: 64, width: 56}"
    base = [f"results={tmp_path}", tiny, "train={width: 8, max_epochs: 1}"]
    snakemake("evaluate", "--config", *base)  # up to the report (the final model is not what this is about)
    manifest = tmp_path / "synthetic_casme2" / "manifest.tsv"
    stamp = manifest.stat().st_mtime_ns

    plan = _summary(*base, "evm={alpha: 4}")
    upstream = [r for r in plan if r["rule"] in ("synthesize", "manifest")]
    downstream = [r for r in plan if r["rule"] in ("magnify", "flow", "shard", "shard_index", "figure_preprocessing",
                                                   "train_fold", "aggregate")]
    assert len(upstream) == 3 and all(r["plan"] == "no update" for r in upstream)
    assert len(downstream) == 3 * 2 + 2 + 4 * 2 + 8  # aggregate: 7 files (params.yaml among them) and the tables folder
    assert all(r["plan"] == "update pending" and "/alpha4-" in r["output_file"] for r in downstream)

    run = snakemake("evaluate", "--config", *base, "evm={alpha: 4}")
    assert "rule magnify" in run.stderr  # the log lists the rules it ran...
    assert "synthesize" not in run.stderr and "rule manifest" not in run.stderr  # ...and not these
    assert manifest.stat().st_mtime_ns == stamp

    back = snakemake("evaluate", "-n", "--config", *base)  # alpha 8 is still all there
    assert "Nothing to be done" in back.stdout + back.stderr


def test_user_dataset_root(tmp_path):
    """A dataset root given in the config is read in place; nothing is generated."""
    root = generate(SynthConfig(format="samm", subjects=2, clips_per_subject=3, height=56, width=48),
                    tmp_path / "SAMM-copy", progress=False)
    results = tmp_path / "results"
    cfg = tmp_path / "samm.yaml"
    cfg.write_text(f"name: mysamm\nresults: {results}\ndataset:\n  format: samm\n  root: {root}\n")
    out = snakemake("--configfile", str(cfg), "--until", "manifest")
    assert "synthesize" not in out.stdout + out.stderr
    manifest = pd.read_csv(results / "mysamm" / "manifest.tsv", sep="\t", dtype={"subject": str})
    assert len(manifest) == 6 and set(manifest.subject) == {"006", "007"}

    missing = tmp_path / "nowhere.yaml"
    missing.write_text(f"results: {results}\ndataset:\n  format: samm\n  root: {tmp_path / 'nowhere'}\n")
    out = snakemake("-n", "--configfile", str(missing), check=False)
    assert out.returncode != 0 and "dataset.root" in out.stdout + out.stderr


def test_megc2019_composite_from_three_roots_on_disk(tmp_path):
    """casme2 + samm + smic trees on disk, each with its own root as a MEGC2019 user configures them:
    3 classes, LOSO over all their subjects, per-dataset scores and the published composite figures in
    the report; then leave-one-dataset-out on the same shards."""
    roots = {fmt: str(write_tree(fmt, tmp_path / fmt.upper(), subjects=2, clips=3)) for fmt in ("casme2", "samm", "smic")}
    cfg = write_config(tmp_path / "megc2019.yaml", name="megc", results=str(tmp_path / "results"),
                       dataset={"format": ["casme2", "samm", "smic"], "classes": "megc2019", "root": roots},
                       images={"size": 32}, train={**TINY_TRAIN, "max_epochs": 2})
    run = snakemake("evaluate", "--configfile", str(cfg))
    assert "rule synthesize" not in run.stderr
    out = tmp_path / "results" / "megc"
    manifest = pd.read_csv(out / "manifest.tsv", sep="\t", dtype={"subject": str, "source_subject": str})
    assert set(manifest.dataset) == {"casme2", "samm", "smic"}
    assert set(manifest.label) <= {"negative", "positive", "surprise"}
    assert manifest.groupby("subject").dataset.nunique().max() == 1 and manifest.subject.nunique() == 6
    metrics = json.loads(next((out / "reports").rglob("loso/metrics.json")).read_text())
    assert metrics["n_folds"] == 6 and metrics["classes"] == ["negative", "positive", "surprise"]
    assert set(metrics["per_dataset"]) == {"casme2", "samm", "smic"}
    assert sum(d["n"] for d in metrics["per_dataset"].values()) == metrics["n_clips"] == len(manifest)
    preds = pd.concat(pd.read_csv(p, dtype=str) for p in (out / "folds").rglob("predictions.csv"))
    assert set(preds.subject) == set(manifest.subject)  # composite subject ids, e.g. casme2_sub01
    page = next((out / "reports").rglob("loso/report.html")).read_text()
    for text in ('id="per-dataset"', 'id="reference-table"', "MEGC2019 composite", "STSTNet", "0.7353", "as published",
                 "Synthetic data"):
        assert text.lower() in page.lower(), text
    assert "MSCNN paper" not in page  # 5-class figures never stand beside a 3-class run

    # leave-one-dataset-out on the same shards: three folds, each holding out one whole dataset
    snakemake("evaluate", "--configfile", str(cfg), "--config", "evaluation={protocol: lodo}")
    lodo = sorted((out / "folds").rglob("lodo/*/metrics.json"))
    assert [p.parent.name for p in lodo] == ["casme2", "samm", "smic"]
    for path in lodo:
        fold = json.loads(path.read_text())
        assert all(s.startswith(fold["fold"] + "_") for s in fold["test_subjects"]) and len(fold["test_subjects"]) == 2
        assert not any(s.startswith(fold["fold"] + "_") for s in fold["train_subjects"])
        assert len(fold["train_subjects"]) == 4
    report = json.loads(next((out / "reports").rglob("lodo/metrics.json")).read_text())
    assert report["protocol"] == "lodo" and report["n_folds"] == 3 and report["n_clips"] == len(manifest)
    assert "reference-table" not in next((out / "reports").rglob("lodo/report.html")).read_text()  # no LODO figures
    index = (out / "index.html").read_text()
    assert index.count(">report</a>") == 2 and "lodo" in index and "loso" in index


def test_other_formats_end_to_end(tmp_path):
    """CAS(ME)^3 (30 fps: the EVM band must lie below 15 Hz) and MMEW (90 fps) through every stage, as
    one composite of their synthetic stand-ins (each dataset's loader, frame rate and labels)."""
    config = ["name=c3mm", "dataset={format: [casme3a, mmew], classes: all}", "evm={low_hz: 2.0, high_hz: 12.0}",
              "synthetic={subjects: 2, clips_per_subject: 7, height: 64, width: 56}", "images={size: 32}",
              "train={width: 8, max_epochs: 2, patience: 5, batch_size: 16}"]
    snakemake("evaluate", "--config", f"results={tmp_path}", *config)
    metrics = json.loads(next((tmp_path / "c3mm" / "reports").rglob("metrics.json")).read_text())
    assert metrics["n_folds"] == 4 and metrics["n_clips"] == 28 and set(metrics["per_dataset"]) == {"casme3a", "mmew"}
    labels = {"happy", "disgust", "fear", "anger", "sad", "surprise", "others", "happiness", "sadness"}
    assert set(metrics["classes"]) == labels  # each dataset's own spellings
    manifest = pd.read_csv(tmp_path / "c3mm" / "manifest.tsv", sep="\t")
    assert manifest.groupby("dataset").fps.first().to_dict() == {"casme3a": 30.0, "mmew": 90.0}
    assert next((tmp_path / "c3mm" / "figures").rglob("preprocessing.png")).stat().st_size > 5000


def test_one_usable_subject_is_refused_when_the_run_is_planned(tmp_path):
    """Known once the manifest exists: LOSO with one subject stops before any pre-processing or training."""
    root = write_tree("casme2", tmp_path / "CASME2", subjects=2, clips=2)
    shutil.rmtree(root / "Cropped" / "sub02")  # every row of sub02 is dropped (no clip folder)
    cfg = write_config(tmp_path / "one.yaml", name="one", results=str(tmp_path / "results"),
                       dataset={"format": "casme2", "root": str(root)})
    out = snakemake("--configfile", str(cfg), check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "LOSO needs at least two subjects with usable clips" in text and "(sub01)" in text
    results = tmp_path / "results" / "one"
    assert (results / "manifest.tsv").is_file() and not (results / "magnified").exists()


def _planned(*args):
    """rule -> number of jobs a dry run plans."""
    out = snakemake("-n", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_studies_share_every_cached_stage(tmp_path):
    """A sampler ablation needs only the configured EVM; an alpha sweep then only adds the new alpha's
    stages and re-uses the run both studies have in common; the comparison page is written."""
    config = ["--config", f"results={tmp_path}", "name=study",
              "synthetic={subjects: 2, clips_per_subject: 3, height: 64, width: 56}", "images={size: 32}",
              "train={width: 8, max_epochs: 1, batch_size: 16}",
              "experiments={seeds: [0], alphas: [0, 8], samplers: [none, random]}"]
    snakemake("ablation_sampler", *config)
    out = tmp_path / "study" / "experiments" / "ablation_sampler"
    summary = pd.read_csv(out / "summary.tsv", sep="\t")
    assert summary.variant.tolist() == ["none", "random"] and summary.reference.tolist() == [True, False]
    runs = pd.read_csv(out / "runs.tsv", sep="\t")
    assert runs.n_clips.tolist() == [6, 6] and runs.model.str.contains("-none-").sum() == 1
    page = (out / "report.html").read_text()
    assert "Over-sampler after the dense layer" in page and "model variant" in page
    assert [p.name for p in (tmp_path / "study" / "magnified").iterdir()] == [runs.evm.iloc[0]]

    # alpha 8 with seed 0 and the random sampler is the run the ablation already made
    assert _planned("alpha_sweep", *config) == {"magnify": 2, "flow": 2, "shard": 2, "train_fold": 2,
                                                "aggregate": 1, "compare": 1, "alpha_sweep": 1}
