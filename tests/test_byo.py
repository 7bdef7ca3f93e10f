"""Bring-your-own inputs: a CSV of flow/apex (or onset/apex) images enters the pipeline where it can."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from microexpr.datasets import load_byo_manifest
from microexpr.datasets.synthetic import load_clip_ground_truth, read_ground_truth
from microexpr.errors import DatasetError
from microexpr.flow import flow_to_hsv, hsv_to_bgr
from microexpr.preprocess import byo_shard_subject, flow_from_hsv_image, read_shard
from test_workflow import snakemake


@pytest.fixture(scope="module")
def byo_csv(synth_factory, tmp_path_factory):
    """28x28 HSV flow images (from the generator's ground truth) and 224x224 apex images of a
    synthetic dataset; every fourth sample gives onset + apex instead of a flow image."""
    root = synth_factory(format="casme2", subjects=3, clips_per_subject=4)
    out = tmp_path_factory.mktemp("byo")
    rows = []
    for k, r in enumerate(read_ground_truth(root)[lambda t: ~t.planted.str.startswith("label")].itertuples()):
        frames = root / "Cropped" / r.subject / r.clip
        apex = cv2.imread(str(frames / f"reg_img{r.apex}.jpg"))
        cv2.imwrite(str(out / f"{r.clip}_{r.subject}_apex.png"), cv2.resize(apex, (224, 224)))
        row = {"subject": r.subject, "sample": r.clip, "label": r.label, "apex": f"{r.clip}_{r.subject}_apex.png"}
        if k % 4 == 3:
            cv2.imwrite(str(out / f"{r.clip}_{r.subject}_onset.png"), cv2.imread(str(frames / f"reg_img{r.onset}.jpg")))
            cv2.imwrite(str(out / f"{r.clip}_{r.subject}_apex_full.png"), apex)
            row.update(onset=f"{r.clip}_{r.subject}_onset.png", apex=f"{r.clip}_{r.subject}_apex_full.png")
        else:
            flow = load_clip_ground_truth(root, r.subject, r.clip)["face_flow"]
            img = cv2.resize(hsv_to_bgr(flow_to_hsv(flow)), (28, 28), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(out / f"{r.clip}_{r.subject}_flow.png"), img)
            row["flow"] = f"{r.clip}_{r.subject}_flow.png"
        rows.append(row)
    csv = out / "samples.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def test_manifest_loads_and_says_where_samples_enter(byo_csv):
    m = load_byo_manifest(byo_csv)
    assert len(m) == 12 and set(m.entry) == {"flow", "onset+apex"} and (m.entry == "onset+apex").sum() == 3
    assert m.sample_id.str.startswith("manifest/").all() and set(m.subject) == {"sub01", "sub02", "sub03"}


def test_one_load_manifest_reads_every_format_a_csv_included(byo_csv, tmp_path):
    from microexpr.datasets import load_manifest

    via = load_manifest("manifest", byo_csv, "all")
    pd.testing.assert_frame_equal(via, load_byo_manifest(byo_csv))
    with pytest.raises(DatasetError, match="not allowed|unknown label|label"):
        load_manifest("manifest", byo_csv, ["nothing_like_these"])
    run = subprocess.run([sys.executable, "-m", "microexpr", "manifest", "--dataset", "manifest", "--root", str(byo_csv),
                          "--classes", "all", "--out", str(tmp_path / "m.tsv"), "--report", str(tmp_path / "r.tsv")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert len(pd.read_csv(tmp_path / "m.tsv", sep="\t")) == len(via)


def test_bad_rows_are_all_named(byo_csv, tmp_path):
    table = pd.read_csv(byo_csv)
    table.loc[0, "apex"] = "no_such_file.png"
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    table.loc[1, "apex"] = str(tmp_path / "broken.png")
    table.loc[2, "label"] = "contempt"
    table.loc[3, "sample"] = "a/b"
    for col in ("flow", "onset"):
        table[col] = [str(byo_csv.parent / v) if isinstance(v, str) else "" for v in table[col]]
    table.loc[3:, "apex"] = [str(byo_csv.parent / v) for v in table.loc[3:, "apex"]]
    bad = tmp_path / "bad.csv"
    table.to_csv(bad, index=False)
    labels = {"disgust", "happiness", "others", "repression", "surprise"}
    with pytest.raises(DatasetError) as err:
        load_byo_manifest(bad, labels)
    text = str(err.value)
    assert "4 row(s)" in text and "row 5 " in text and "sample 'a/b' is not a safe name" in text
    assert "row 2 " in text and "missing file" in text and "no_such_file.png" in text
    assert "row 3 " in text and "unreadable image" in text
    assert "row 4 " in text and "unknown label 'contempt'" in text


def test_hsv_flow_images_decode_to_fields():
    flow = np.zeros((20, 20, 2), np.float32)
    flow[5:10, 5:10] = (0.0, -2.0)  # up
    decoded = flow_from_hsv_image(hsv_to_bgr(flow_to_hsv(flow)))
    assert decoded[7, 7, 1] < -0.9 and abs(decoded[7, 7, 0]) < 0.05 and np.abs(decoded[0, 0]).max() == 0


@pytest.mark.parametrize("encoding", ["hsv", "image"])
def test_shard_of_a_byo_subject(byo_csv, tmp_path, encoding):
    m = load_byo_manifest(byo_csv)
    classes = sorted(set(m.label))
    out = byo_shard_subject(m, "sub01", tmp_path / "s.h5", classes=classes, size=32, flow_encoding=encoding,
                            flow_method="dis", progress=False)
    d = read_shard(out, augmented=True, streams=("flow", "gray", "masked", "mask"))
    rows = m[m.subject == "sub01"]
    images = int((rows.entry == "flow").sum()) if encoding == "image" else 0  # of unknown channels: no mirrors
    assert np.bincount(d["aug"]).tolist() == [len(rows)] * 5 + [len(rows) - images] * 5
    assert d["flow"].shape == (10 * len(rows) - 5 * images, 32, 32, 3)
    assert (d["masked"][d["mask"] == 0] == 0).all() and d["mask"].any()
    originals = read_shard(out)
    assert sorted(originals["sample_id"]) == sorted(m[m.subject == "sub01"].sample_id)


@pytest.mark.workflow
def test_byo_manifest_with_a_bad_row_stops_the_run(byo_csv, tmp_path):
    """(The whole bring-your-own path runs in test_byo_with_a_dataset_column_under_loso_and_lodo.)"""
    config = ["name=byo", f"dataset={{format: manifest, root: {byo_csv}, classes: all}}", "images={size: 32}",
              "train={width: 8, max_epochs: 2, patience: 5, batch_size: 16}"]
    bad = byo_csv.parent / "bad.csv"  # beside the images: paths are relative to the CSV
    table = pd.read_csv(byo_csv)
    table.loc[0, "flow"] = "missing.png"
    table.to_csv(bad, index=False)
    failed = snakemake("--config", f"results={tmp_path}", *config[:1],
                       f"dataset={{format: manifest, root: {bad}, classes: all}}", check=False)
    assert failed.returncode != 0
    log = (tmp_path / "logs" / "manifest" / "byo.log").read_text()
    assert "row 2 " in log and "missing.png" in log


SOURCES = {"sub01": "casme2", "sub02": "samm", "sub03": "smic"}


@pytest.fixture(scope="module")
def byo_with_datasets(byo_csv):
    """The same samples with a dataset column (one source dataset per subject), beside the images."""
    table = pd.read_csv(byo_csv)
    table.insert(0, "dataset", table.subject.map(SOURCES))
    out = byo_csv.parent / "with_datasets.csv"
    table.to_csv(out, index=False)
    return out


@pytest.mark.parametrize("subject", ["..", ".", "<b>x", "sub{1}", "a/b", "s 1"])
def test_unsafe_subject_names_are_refused_by_row(byo_csv, tmp_path, subject):
    """Names become folders and files: '..' would write one folder up, braces break Snakemake's
    wildcards, '<b>' breaks paths and pages."""
    table = pd.read_csv(byo_csv, keep_default_na=False)
    for col in ("flow", "apex", "onset"):
        table[col] = [str(byo_csv.parent / v) if v else "" for v in table[col]]
    table.loc[2, "subject"] = subject
    bad = tmp_path / "names.csv"
    table.to_csv(bad, index=False)
    with pytest.raises(DatasetError) as err:
        load_byo_manifest(bad)
    assert "1 row(s)" in str(err.value) and "row 4 " in str(err.value) and f"subject {subject!r} is not a safe name" in str(err.value)


def test_dataset_column_keeps_subjects_distinct_per_dataset(byo_with_datasets, tmp_path):
    m = load_byo_manifest(byo_with_datasets)
    assert set(m.subject) == {"casme2_sub01", "samm_sub02", "smic_sub03"} and set(m.dataset) == set(SOURCES.values())
    assert (m.sample_id.str.split("/").str[0] == m.dataset).all() and (m.source_subject == m.subject.str.split("_").str[1]).all()
    # the same subject id in two datasets is two subjects
    table = pd.read_csv(byo_with_datasets)
    table.loc[table.subject == "sub02", "subject"] = "sub01"
    both = tmp_path / "both.csv"
    table.assign(**{c: [str(byo_with_datasets.parent / v) if isinstance(v, str) else "" for v in table[c]]
                    for c in ("flow", "apex", "onset")}).to_csv(both, index=False)
    assert set(load_byo_manifest(both).subject) == {"casme2_sub01", "samm_sub01", "smic_sub03"}


def test_empty_or_unknown_datasets_are_named_by_row(byo_with_datasets, tmp_path):
    table = pd.read_csv(byo_with_datasets, keep_default_na=False)
    table.loc[1, "dataset"] = ""
    table.loc[4, "dataset"] = "casme9"
    for col in ("flow", "apex", "onset"):
        table[col] = [str(byo_with_datasets.parent / v) if v else "" for v in table[col]]
    bad = tmp_path / "bad.csv"
    table.to_csv(bad, index=False)
    with pytest.raises(DatasetError) as err:
        load_byo_manifest(bad)
    text = str(err.value)
    assert "2 row(s)" in text and "row 3 " in text and "empty dataset" in text
    assert "row 6 " in text and "unknown dataset 'casme9'" in text and "casme2, casme3a" in text


@pytest.mark.workflow
def test_byo_with_a_dataset_column_under_loso_and_lodo(byo_with_datasets, tmp_path):
    """Per-dataset scores like a composite; leave-one-dataset-out on the CSV's datasets."""
    config = ["name=byo_ds", f"dataset={{format: manifest, root: {byo_with_datasets}, classes: all}}",
              "images={size: 32}", "train={model: offapexnet, max_epochs: 2, patience: 5, batch_size: 16}"]
    out = snakemake("evaluate", "--config", f"results={tmp_path}", *config)
    assert "rule magnify" not in out.stderr  # the images go straight to the shards
    assert len(list((tmp_path / "byo_ds" / "shards").rglob("*_sub0*.h5"))) == 3
    loso = json.loads(next((tmp_path / "byo_ds" / "reports").rglob("loso/metrics.json")).read_text())
    assert loso["n_clips"] == 12
    assert loso["n_folds"] == 3 and set(loso["per_dataset"]) == set(SOURCES.values())
    assert "Per source dataset" in next((tmp_path / "byo_ds" / "reports").rglob("loso/report.html")).read_text()
    small = [json.loads(p.read_text()) for p in (tmp_path / "byo_ds" / "folds").rglob("offapexnet-*/loso/*/metrics.json")]
    assert len(small) == 3 and all(f["streams"] == ["uvs"] and f["n_test"] == 4 for f in small)
    # leave-one-dataset-out with an ensemble of two STSTNets on the uvs stream the shards already hold
    snakemake("evaluate", "--config", f"results={tmp_path}", *config, "evaluation={protocol: lodo}",
              "train={ensemble: [{model: ststnet, validation: none, max_epochs: 2}, "
              "{model: ststnet, validation: none, max_epochs: 2, seed: 1}]}")
    lodo = sorted((tmp_path / "byo_ds" / "folds").rglob("lodo/*/metrics.json"))
    assert [p.parent.name for p in lodo] == ["casme2", "samm", "smic"]
    for path in lodo:
        fold = json.loads(path.read_text())
        assert fold["model"] == "ensemble" and fold["selection"]["validation"] == "none"
        assert [(m["model"], m["best_epoch"]) for m in fold["ensemble"]["members"]] == [("ststnet", 1)] * 2
        assert fold["test_subjects"] == [f"{fold['fold']}_{s}" for s, d in SOURCES.items() if d == fold["fold"]]
        assert len(fold["train_subjects"]) == 2
    # a choice between two candidates by inner cross-validation on each fold's training subjects
    snakemake("evaluate", "--config", f"results={tmp_path}", *config,
              "train={choose: [{model: ststnet, validation: none, max_epochs: 1}, "
              "{model: ststnet, validation: none, max_epochs: 2, seed: 1}], choose_folds: 2}")
    chosen = [json.loads(p.read_text()) for p in (tmp_path / "byo_ds" / "folds").rglob("choose2-*/loso/*/metrics.json")]
    assert len(chosen) == 3 and all(len(f["choose"]["candidates"]) == 2 for f in chosen)
    assert all(f["test_subjects"][0] not in sum(f["choose"]["inner_groups"], []) for f in chosen)
    for fold in chosen:
        assert sorted(s for g in fold["choose"]["inner_groups"] for s in g) == sorted(fold["train_subjects"])
    report = next((tmp_path / "byo_ds" / "reports").rglob("choose2-*/loso/report.html")).read_text()
    assert "picked in" in report  # the report's provenance says how often each candidate was picked
    without = snakemake("-n", "--config", f"results={tmp_path}", "name=byo_plain",
                        f"dataset={{format: manifest, root: {byo_with_datasets.parent / 'samples.csv'}, classes: all}}",
                        "evaluation={protocol: lodo}", check=False)
    assert without.returncode != 0 and "lodo needs several datasets" in without.stdout + without.stderr


def test_augmenting_an_image_encoded_flow_turns_its_motion():
    """The mirrored (and rotated) u/v/strain image is the encoding of the mirrored (rotated) field: a smile's
    outward lip-corner motion stays outward."""
    from microexpr.flow import transform_encoded_flow, transform_flow, transform_image

    h, w, zero = 40, 48, 128
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.stack([np.where(xx < w / 2, -6.0, 6.0) * np.exp(-((yy - 30) ** 2) / 40),  # corners moving outwards
                      -3.0 * np.exp(-((yy - 30) ** 2) / 40)], axis=-1).astype(np.float32)
    strain = np.clip(np.abs(field).sum(-1) * 10, 0, 255)

    def encode(f, s):
        return np.clip(np.rint(np.dstack([f[..., 0] + zero, f[..., 1] + zero, s])), 0, 255).astype(np.uint8)

    img = encode(field, strain)
    for flip, angle in ((True, 0.0), (False, 10.0), (True, -5.0)):
        got = transform_encoded_flow(img, ["u", "v", "strain"], zero, flip=flip, angle=angle)
        want = encode(transform_flow(field, flip=flip, angle=angle),
                      transform_image(img[..., 2], flip=flip, angle=angle))
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    mirrored = transform_encoded_flow(img, ["u", "v", "strain"], zero, flip=True, angle=0.0)
    assert mirrored[30, 5, 0] < zero - 3 and mirrored[30, w - 5, 0] > zero + 3  # still outward
    plain = transform_image(img, flip=True, angle=0.0)  # what moving pixels alone does: inward
    assert plain[30, 5, 0] > zero + 3
    with pytest.raises(ValueError, match="u and v"):
        transform_encoded_flow(img, ["u", "strain", "magnitude"], zero, flip=True, angle=0.0)


def test_a_byo_shard_with_flow_channels_keeps_every_augmentation(byo_csv, tmp_path):
    m = load_byo_manifest(byo_csv)
    out = byo_shard_subject(m, "sub01", tmp_path / "s.h5", classes=sorted(set(m.label)), size=32, flow_encoding="image",
                            flow_channels=["u", "v", "strain"], flow_zero=128, flow_method="dis", progress=False)
    d = read_shard(out, augmented=True, streams=("flow", "uvs"))
    assert np.bincount(d["aug"]).tolist() == [4] * 10
    original, mirrored = d["uvs"][d["aug"] == 0][0], d["uvs"][d["aug"] == 5][0]  # aug 5: the mirror, no rotation
    np.testing.assert_allclose(mirrored[..., 0].astype(int), np.clip(256 - original[:, ::-1, 0].astype(int), 0, 255),
                               atol=1)
