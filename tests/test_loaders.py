"""Loaders on synthetic trees in the real layouts, their quirks, and damaged copies."""
import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from microexpr.datasets import frame_paths, load_manifest, read_manifest, resolve_scheme, write_manifest
from microexpr.datasets.frames import parse_frame_number
from microexpr.datasets.synthetic import read_ground_truth
from microexpr.errors import DatasetError

S, C = 3, 5  # subjects, clips per subject of the session's small datasets (tests/conftest.py)


def _planted(root):
    gt = read_ground_truth(root)
    return gt[gt.planted != ""]


def test_casme2_counts_and_report(synth_factory):
    root = synth_factory(format="casme2")
    m = load_manifest("casme2", root, classes="paper5")
    assert len(m) == S * C
    assert set(m.label) <= {"disgust", "happiness", "repression", "surprise", "others"}
    assert m.subject.str.fullmatch(r"sub\d\d").all()
    report = m.attrs["report"]
    planted = _planted(root)
    assert set(zip(report.subject, report["clip"])) == set(zip(planted.subject, planted["clip"]))
    assert sorted(report.code) == ["apex_missing", "label_not_in_scheme", "label_not_in_scheme"]
    # the '/' row is repaired to the middle frame and kept
    fixed = planted[planted.sheet_apex == "/"].iloc[0]
    row = m[(m.subject == fixed.subject) & (m["clip"] == fixed["clip"])].iloc[0]
    assert row.apex == (row.onset + row.offset) // 2
    assert (m.onset <= m.apex).all() and (m.apex <= m.offset).all()
    assert (m.fps == 200.0).all()


def test_all_labels_keeps_the_extra_classes(synth_factory):
    root = synth_factory(format="casme2")
    m = load_manifest("casme2", root, classes="all")
    assert len(m) == S * C + 2
    assert {"fear", "sadness"} <= set(m.label)


def test_samm_counts_and_report(synth_factory):
    root = synth_factory(format="samm")
    m = load_manifest("samm", root, classes="paper5")
    assert len(m) == S * C
    assert set(m.label) <= {"anger", "contempt", "happiness", "surprise", "other"}
    assert set(m.subject) == {"006", "007", "008"}
    report = m.attrs["report"]
    assert sorted(report.code) == ["apex_outside", "label_not_in_scheme", "label_not_in_scheme"]
    assert set(zip(report.subject, report["clip"])) == set(zip(_planted(root).subject, _planted(root)["clip"]))
    assert "outside onset..offset" in report[report.code == "apex_outside"].reason.iloc[0]


def test_samm_under_a_SAMM_subfolder(synth_factory, tmp_path):
    src = synth_factory(format="samm")
    root = tmp_path / "download"
    (root / "SAMM").mkdir(parents=True)
    for p in src.iterdir():
        dst = root / ("SAMM" if p.name.isdigit() else "") / p.name
        (shutil.copytree if p.is_dir() else shutil.copy)(p, dst)
    assert len(load_manifest("samm", root, "paper5")) == S * C


def test_casme2_2014_sheet_and_raw_layout(synth_factory):
    root = synth_factory(format="casme2", sheet_version="2014", layout="raw")
    m = load_manifest("casme2", root, classes="paper5", layout="raw")
    assert len(m) == S * C
    assert m.subject.iloc[0] == "sub01"  # the sheet stores the integer 1
    assert m.frame_template.iloc[0] == "img{frame}.jpg"
    assert len(load_manifest("casme2", root, classes="paper5")) == S * C  # auto finds the RAW folder
    with pytest.raises(DatasetError, match="cropped frames folder not found"):
        load_manifest("casme2", root, layout="cropped")


def test_frame_paths_and_roundtrip(synth_factory, tmp_path):
    root = synth_factory(format="samm")
    m = load_manifest("samm", root, "paper5")
    paths = frame_paths(m.iloc[0])
    assert len(paths) == m.iloc[0].n_frames and all(p.is_file() for p in paths)
    write_manifest(m, tmp_path / "m.tsv", tmp_path / "r.tsv")
    back = read_manifest(tmp_path / "m.tsv")
    assert back.subject.iloc[0] == "006"  # text, not the integer 6
    pd.testing.assert_frame_equal(back.drop(columns="sheet_row"), m.drop(columns="sheet_row"), check_dtype=False)
    report = pd.read_csv(tmp_path / "r.tsv", sep="\t")
    assert len(report) == 3


def _row(m, root, **where):
    gt = read_ground_truth(root)
    for k, v in where.items():
        gt = gt[gt[k] == v]
    return next(gt.itertuples())


def test_missing_frame_drops_the_clip_naming_it(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="casme2"))
    r = _row(None, root, planted="")
    (root / "Cropped" / r.subject / r.clip / f"reg_img{r.apex}.jpg").unlink()
    # a frame outside onset..offset is not needed: its loss costs nothing
    r2 = _row(None, root, subject="sub02", planted="")
    (root / "Cropped" / r2.subject / r2.clip / f"reg_img{r2.first_frame}.jpg").unlink()
    m = load_manifest("casme2", root, "paper5")
    assert len(m) == S * C - 1
    bad = m.attrs["report"].query("code == 'missing_frames'")
    assert len(bad) == 1 and bad["clip"].iloc[0] == r.clip
    assert str(r.apex) in bad.reason.iloc[0] and r.clip in bad.reason.iloc[0]


def test_corrupt_frames(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="samm"))
    rows = [r for r in read_ground_truth(root).itertuples() if not r.planted][:2]
    truncated = root / rows[0].subject / rows[0].clip / f"{rows[0].subject}_{rows[0].apex:05d}.jpg"
    truncated.write_bytes(truncated.read_bytes()[:300])
    garbage = root / rows[1].subject / rows[1].clip / f"{rows[1].subject}_{rows[1].onset:05d}.jpg"
    garbage.write_bytes(b"\xff\xd8" + b"\x00" * 500 + b"\xff\xd9")  # right signature, no image

    header = load_manifest("samm", root, "paper5", verify="header")
    assert len(header) == S * C - 1
    reason = header.attrs["report"].query("code == 'corrupt_frame'").reason.iloc[0]
    assert str(truncated) in reason and "truncated" in reason

    decode = load_manifest("samm", root, "paper5", verify="decode")
    assert len(decode) == S * C - 2
    assert str(garbage) in " ".join(decode.attrs["report"].reason)

    assert len(load_manifest("samm", root, "paper5", verify="exists")) == S * C


def test_missing_and_empty_clip_folders(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="casme2"))
    regular = [r for r in read_ground_truth(root).itertuples() if not r.planted]
    shutil.rmtree(root / "Cropped" / regular[0].subject / regular[0].clip)
    empty = root / "Cropped" / regular[1].subject / regular[1].clip
    shutil.rmtree(empty)
    empty.mkdir()
    m = load_manifest("casme2", root, "paper5")
    codes = m.attrs["report"].set_index("clip").code
    assert codes[regular[0].clip] == "no_clip_folder"
    assert codes[regular[1].clip] == "empty_clip_folder"
    assert len(m) == S * C - 2


def _edit_sheet(path, row, col, value):
    wb = load_workbook(path)
    wb.active.cell(row=row, column=col, value=value)
    wb.save(path)


def test_unknown_label_and_bad_numbers_are_reported_by_row(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="casme2"))
    sheet = root / "CASME2-coding-20190701.xlsx"
    _edit_sheet(sheet, 2, 9, "Angry")     # Estimated Emotion of Excel row 2
    _edit_sheet(sheet, 3, 4, "n.a.x")     # OnsetFrame of row 3
    _edit_sheet(sheet, 4, 4, 99999)       # onset after offset in row 4
    m = load_manifest("casme2", root, "paper5")
    report = m.attrs["report"].set_index("sheet_row")
    assert report.loc[2, "code"] == "unknown_label" and "'Angry'" in report.loc[2, "reason"]
    assert report.loc[3, "code"] == "bad_frame_number" and "onset" in report.loc[3, "reason"]
    assert report.loc[4, "code"] == "onset_after_offset"

    with pytest.raises(DatasetError) as err:
        load_manifest("casme2", root, "paper5", strict=True)
    for row in ("row 2 ", "row 3 ", "row 4 "):
        assert row in str(err.value)
    assert "not in class scheme" not in str(err.value)  # fear/sadness rows are outside paper5, not broken


def test_strict_passes_a_sound_sheet_whose_extra_classes_fall_outside_the_scheme(synth_factory):
    """Like the real CASME II sheet: fear and sadness rows lie outside paper5 and an apex reads '/'
    (repaired); nothing is broken, so strict mode passes with the same clips."""
    root = synth_factory(format="casme2")
    relaxed = load_manifest("casme2", root, "paper5")
    assert sorted(relaxed.attrs["report"].code) == ["apex_missing", "label_not_in_scheme", "label_not_in_scheme"]
    strict = load_manifest("casme2", root, "paper5", strict=True)
    assert strict.sample_id.tolist() == relaxed.sample_id.tolist()


def test_labels_match_case_insensitively(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="casme2"))
    sheet = root / "CASME2-coding-20190701.xlsx"
    label = load_workbook(sheet).active.cell(row=2, column=9).value
    _edit_sheet(sheet, 2, 9, f"  {label.upper()} ")
    m = load_manifest("casme2", root, "paper5")
    assert len(m) == S * C and m[m.sheet_row == 2].label.iloc[0] == label


def test_dataset_level_errors(tmp_path):
    with pytest.raises(DatasetError, match="root folder not found"):
        load_manifest("casme2", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"CASME2-coding-\*\.xlsx"):
        load_manifest("casme2", tmp_path / "empty")
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_manifest("smic9", tmp_path)


def test_a_scheme_that_keeps_nothing_fails_clearly(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="samm"))
    for p in root.glob("0*/*"):
        shutil.rmtree(p)
    with pytest.raises(DatasetError, match="no usable clips"):
        load_manifest("samm", root)


def test_schemes():
    assert resolve_scheme("samm", "paper5")[1]["other"] == "other"
    assert resolve_scheme("casme2", ["Fear", "sadness"]) == ("custom", {"fear": "fear", "sadness": "sadness"})
    with pytest.raises(DatasetError, match="unknown class scheme"):
        resolve_scheme("casme2", "paper7")
    with pytest.raises(DatasetError, match="not labels of casme2"):
        resolve_scheme("casme2", ["anger"])


@pytest.mark.parametrize("value,expected", [(46, 46), (46.0, 46), ("46", 46), (" 46 ", 46), ("/", None),
                                            (None, None), ("", None), (float("nan"), None)])
def test_parse_frame_number(value, expected):
    assert parse_frame_number(value) == expected


@pytest.mark.parametrize("value", ["4a", 46.5, True, "1/2"])
def test_parse_frame_number_rejects(value):
    with pytest.raises(ValueError):
        parse_frame_number(value)


def test_unsafe_and_empty_clip_names_are_reported_by_row(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="casme2"))
    sheet = root / "CASME2-coding-20190701.xlsx"
    _edit_sheet(sheet, 2, 2, "../EP01_01")   # Filename of Excel row 2
    wb = load_workbook(sheet)
    wb.active.cell(row=3, column=2).value = None  # an empty Filename cell (cell(value=None) would keep it)
    wb.save(sheet)
    m = load_manifest("casme2", root, "paper5")
    report = m.attrs["report"].set_index("sheet_row")
    assert report.loc[2, "code"] == "bad_name" and "'../EP01_01' is not a safe name" in report.loc[2, "reason"]
    assert report.loc[3, "code"] == "empty_id" and pd.isna(report.loc[3, "clip"])  # empty, not the text "nan"
    assert not m["clip"].str.contains("/").any()


def test_a_frame_of_another_size_drops_its_clip_in_the_manifest(synth_factory, writable_copy):
    """Caught from the image headers when the manifest is built, not as an EVM failure of the subject."""
    import cv2

    root = writable_copy(synth_factory(format="casme2"))
    m = load_manifest("casme2", root, "paper5")
    row = m.iloc[0]
    frame = Path(row["frame_dir"]) / row["frame_template"].format(frame=row["onset"] + 1)
    cv2.imwrite(str(frame), cv2.resize(cv2.imread(str(frame)), (40, 30)))
    again = load_manifest("casme2", root, "paper5")
    report = again.attrs["report"].set_index("clip")
    assert report.loc[row["clip"], "code"] == "frame_size" and "40x30" in report.loc[row["clip"], "reason"]
    assert len(again) == len(m) - 1


@pytest.mark.parametrize("mode", ["middle", "spotted"])
def test_apex_can_be_chosen_instead_of_annotated(synth_factory, mode):
    """dataset.apex: every clip's apex replaced (and reported), e.g. spotted for SMIC, which has none."""
    root = synth_factory(format="smic", subjects=2, clips_per_subject=3)
    m = load_manifest("smic", root, "all", apex=mode)
    report = m.attrs["report"]
    assert (report.code == f"apex_{mode}").sum() == len(m) == 6
    assert m.apex.between(m.onset, m.offset).all()
    if mode == "middle":
        assert (m.apex == (m.onset + m.offset) // 2).all()
    else:
        assert "from the motion" in report[report.code == "apex_spotted"].reason.iloc[0]


@pytest.mark.parametrize("fmt", ["casme2", "samm"])
def test_action_units_are_kept_as_the_ground_truth_draws_them(synth_factory, fmt):
    import json

    root = synth_factory(format=fmt)
    m = load_manifest(fmt, root, classes="paper5")
    gt = read_ground_truth(root).set_index(["subject", "clip"])
    for row in m.itertuples():
        drawn = [a.replace("AU", "") for a in gt.loc[(row.subject, row.clip), "aus"].split("+") if a]
        assert json.loads(row.action_units) == drawn


@pytest.mark.parametrize("cell,aus,bad", [
    ("AU4+AU7", ["4", "7"], []), ("4+7", ["4", "7"], []), ("R12", ["R12"], []), ("L4", ["L4"], []),
    ("AU 4 + AU 7", ["4", "7"], []), ("4, 7", ["4", "7"], []), ("12B+r14", ["12B", "R14"], []), (4.0, ["4"], []),
    ("/", [], []), (None, [], []), ("4+?", ["4"], ["?"]), ("AU1+AU1", ["1"], []),
])
def test_action_unit_spellings_are_normalised(cell, aus, bad):
    from microexpr.datasets.manifest import parse_action_units

    assert parse_action_units(cell) == (aus, bad)


def test_a_bad_action_unit_cell_is_reported_by_row_and_the_clip_kept(synth_factory, writable_copy, tmp_path):
    import json

    root = writable_copy(synth_factory(format="casme2"))
    _edit_sheet(root / "CASME2-coding-20190701.xlsx", 5, 8, "R12+AUx")  # Action Units of Excel row 5
    m = load_manifest("casme2", root, "paper5")
    report = m.attrs["report"].set_index("sheet_row")
    assert report.loc[5, "code"] == "bad_action_units" and "'AUx'" in report.loc[5, "reason"]
    row = m[m.sheet_row == 5].iloc[0]
    assert json.loads(row.action_units) == ["R12"]
    write_manifest(m, tmp_path / "manifest.tsv")
    old = read_manifest(tmp_path / "manifest.tsv").drop(columns="action_units")
    old.to_csv(tmp_path / "old.tsv", sep="\t", index=False)  # a manifest written before AUs were kept
    assert (read_manifest(tmp_path / "old.tsv").action_units == "[]").all()
