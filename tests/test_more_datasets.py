"""SMIC-HS, CAS(ME)^3 part A and MMEW in their real layouts; the MEGC2019 scheme and composite."""
import json
import shutil

import pytest

from microexpr.datasets import load_composite, load_manifest, read_manifest, write_manifest
from microexpr.datasets.synthetic import read_ground_truth
from microexpr.errors import DatasetError

S, C = 3, 5


@pytest.mark.parametrize("fmt,layout_file", [
    ("smic", "HS/s1/micro"),
    ("casme3a", "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"),
    ("mmew", "MMEW_Micro_Exp.xlsx"),
])
def test_new_formats_load_in_their_layouts(synth_factory, fmt, layout_file):
    root = synth_factory(format=fmt)
    assert (root / layout_file).exists()
    m = load_manifest(fmt, root)
    assert len(m) == S * C
    assert (m.fps == json.loads((root / "synthetic.json").read_text())["fps"]).all()
    truth = read_ground_truth(root)
    merged = m.merge(truth, left_on=["subject", "clip"], right_on=["subject", "clip"])
    assert len(merged) == S * C
    assert (merged.label_x == merged.label_y.str.lower()).all()
    assert (merged.onset_x == merged.onset_y).all() and (merged.offset_x == merged.offset_y).all()


def test_smic_apex_is_the_middle_frame_and_the_report_says_so(synth_factory):
    m = load_manifest("smic", synth_factory(format="smic"))
    assert (m.apex == (m.onset + m.offset) // 2).all()
    report = m.attrs["report"]
    assert len(report) == len(m) and (report.code == "apex_missing").all()
    assert report.reason.str.contains("SMIC has no apex annotation").all()
    with pytest.raises(DatasetError, match="no coding sheet"):
        load_manifest("smic", synth_factory(format="smic"), sheet="x.xlsx")


def test_truncated_bmp_frame_is_reported(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="smic"))
    frame = sorted((root / "HS" / "s1" / "micro").rglob("*.bmp"))[3]
    frame.write_bytes(frame.read_bytes()[:1000])
    m = load_manifest("smic", root)
    bad = m.attrs["report"].query("code == 'corrupt_frame'")
    assert len(m) == S * C - 1 and len(bad) == 1 and "truncated BMP" in bad.reason.iloc[0]


def test_casme3a_sheet_in_an_annotation_folder(synth_factory, writable_copy):
    root = writable_copy(synth_factory(format="casme3a"))
    (root / "annotation").mkdir()
    shutil.move(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", root / "annotation")
    assert len(load_manifest("casme3a", root)) == S * C


def test_megc2019_scheme(synth_factory):
    m = load_manifest("casme2", synth_factory(format="casme2"), classes="megc2019")
    assert set(m.label) <= {"negative", "positive", "surprise"}
    report = m.attrs["report"]
    dropped = set(report[report.code == "label_not_in_scheme"].raw_label)
    assert dropped <= {"others", "fear", "sadness"} and {"fear", "sadness"} <= dropped
    raw_to_class = dict(zip(m.raw_label, m.label))
    assert all(raw_to_class.get(k, v) == v for k, v in
               {"disgust": "negative", "repression": "negative", "happiness": "positive", "surprise": "surprise"}.items())
    samm = load_manifest("samm", synth_factory(format="samm"), classes="megc2019")
    assert "other" not in set(samm.raw_label.str.lower()) and set(samm.label) <= {"negative", "positive", "surprise"}
    with pytest.raises(DatasetError, match="no mapping for dataset 'mmew'"):
        load_manifest("mmew", synth_factory(format="mmew"), classes="megc2019")


def test_composite_keeps_subjects_distinct(synth_factory, tmp_path):
    sources = {f: synth_factory(format=f) for f in ("casme2", "samm", "smic")}
    m = load_composite(sources, classes="megc2019")
    parts = {f: load_manifest(f, r, classes="megc2019") for f, r in sources.items()}
    assert len(m) == sum(len(p) for p in parts.values())
    assert set(m.label) <= {"negative", "positive", "surprise"}
    for f, p in parts.items():
        rows = m[m.dataset == f]
        assert set(rows.subject) == {f"{f}_{s}" for s in p.subject}
        assert list(rows.source_subject) == list(p.subject)
    assert m.sample_id.is_unique and m.groupby("subject").dataset.nunique().max() == 1
    assert len(m.attrs["report"]) == sum(len(p.attrs["report"]) for p in parts.values())
    write_manifest(m, tmp_path / "m.tsv")
    assert read_manifest(tmp_path / "m.tsv").source_subject.iloc[len(parts["casme2"])] == "006"
