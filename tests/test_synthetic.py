"""The synthetic dataset: real on-disk formats, planted quirks, determinism, and ground truth."""
import hashlib

import cv2
import numpy as np
import pytest
from openpyxl import load_workbook

from microexpr.__main__ import main
from microexpr.datasets import synthetic
from microexpr.datasets.synthetic import SynthConfig, generate, load_clip_ground_truth, read_ground_truth
from microexpr.errors import DatasetError


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.jpg")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _sheet_values(path, sheet=None):
    wb = load_workbook(path)
    ws = wb[sheet] if sheet else wb.active
    return ws, [[c.value for c in row] for row in ws.iter_rows()]


def test_casme2_layout_and_sheet(synth_factory):
    root = synth_factory(format="casme2")
    gt = read_ground_truth(root)
    r = next(gt.itertuples())
    folder = root / "Cropped" / r.subject / r.clip
    frames = sorted(folder.glob("reg_img*.jpg"))
    assert len(frames) == r.last_frame - r.first_frame + 1
    assert (folder / f"reg_img{r.onset}.jpg").is_file()
    img = cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED)
    assert img.shape == (72, 64, 3)

    ws, rows = _sheet_values(root / "CASME2-coding-20190701.xlsx")
    assert ws.title == "Sheet1"
    assert rows[0] == ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                       "Action Units", "Estimated Emotion", "Objective Classes"]
    subjects = [row[0] for row in rows[1:]]
    assert subjects[0] == "01" and all(isinstance(s, str) for s in subjects)
    assert all(row[2] is None and row[6] is None for row in rows[1:])
    labels = {row[8] for row in rows[1:]}
    assert labels >= {"others", "disgust", "happiness", "repression", "surprise", "fear", "sadness"}
    assert all(lab == lab.lower() for lab in labels)
    assert sum(row[4] == "/" for row in rows[1:]) == 1
    assert len(rows) - 1 == 3 * 5 + 2  # regular clips + the fear and sadness rows


def test_samm_layout_and_sheet(synth_factory):
    root = synth_factory(format="samm")
    gt = read_ground_truth(root)
    r = next(gt.itertuples())
    assert r.subject == "006"
    path = root / "006" / r.clip / f"006_{r.onset:05d}.jpg"
    assert path.is_file()
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).ndim == 2  # grayscale like SAMM

    ws, rows = _sheet_values(root / "SAMM_Micro_FACS_Codes_v2.xlsx", "MICRO_ONLY")
    assert all("Subject" not in row for row in rows[:13])
    assert rows[13][:6] == ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame"]
    assert rows[13][9:12] == ["Estimated Emotion", "Objective Classes", "Notes"]
    data = rows[14:]
    assert data[0][0] == "006" and isinstance(data[0][0], str)
    labels = {row[9] for row in data}
    assert {"Anger", "Contempt", "Happiness", "Surprise", "Other", "Fear", "Sadness"} <= labels
    assert any(row[4] > row[5] for row in data)  # a planted apex after offset


def test_2014_sheet_and_raw_layout(synth_factory):
    root = synth_factory(format="casme2", sheet_version="2014", layout="raw")
    _, rows = _sheet_values(root / "CASME2-coding-20140508.xlsx")
    assert rows[0][:5] == ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame"]
    assert isinstance(rows[1][0], int)
    assert list((root / "CASME2_RAW_selected").glob("sub01/*/img*.jpg"))


def test_deterministic_for_a_seed(tmp_path):
    cfg = dict(format="samm", subjects=2, clips_per_subject=2, height=56, width=48)
    a = generate(SynthConfig(**cfg, seed=3), tmp_path / "a", progress=False)
    b = generate(SynthConfig(**cfg, seed=3), tmp_path / "b", progress=False)
    c = generate(SynthConfig(**cfg, seed=4), tmp_path / "c", progress=False)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    ga, gb = read_ground_truth(a), read_ground_truth(b)
    assert ga.equals(gb)


def test_faces_differ_between_subjects(synth_factory):
    root = synth_factory(format="samm")
    gt = read_ground_truth(root)
    firsts = []
    for subject in ("006", "007", "008"):
        r = next(gt[gt.subject == subject].itertuples())
        firsts.append(cv2.imread(str(root / subject / r.clip / f"{subject}_{r.first_frame:05d}.jpg"), 0).astype(float))
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(firsts[i] - firsts[j]).mean() > 10


@pytest.mark.parametrize("fmt", ["casme2", "samm"])
def test_ground_truth_explains_onset_to_apex_motion(synth_factory, fmt):
    """Warping apex back by the recorded motion must undo the motion down to the noise floor."""
    root = synth_factory(format=fmt, height=120, width=100, noise=1.0)
    gt = read_ground_truth(root)
    ratios = []
    for r in gt.itertuples():
        d = load_clip_ground_truth(root, r.subject, r.clip)
        numbers = list(d["frame_numbers"])
        flow = d["face_flow"] + (d["jitter"][numbers.index(r.apex)] - d["jitter"][numbers.index(r.onset)])
        if fmt == "casme2":
            name = lambda n: root / "Cropped" / r.subject / r.clip / f"reg_img{n}.jpg"  # noqa: E731
        else:
            name = lambda n: root / r.subject / r.clip / f"{r.subject}_{n:05d}.jpg"  # noqa: E731
        onset = cv2.imread(str(name(r.onset)), 0).astype(np.float32)
        apex = cv2.imread(str(name(r.apex)), 0).astype(np.float32)
        h, w = onset.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        back = cv2.remap(apex, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_CUBIC)
        moving = np.hypot(d["face_flow"][..., 0], d["face_flow"][..., 1]) > 0.3
        assert moving.sum() > 50, f"{r.clip}: no region moves"
        ratios.append(np.abs(back - onset)[moving].mean() / np.abs(apex - onset)[moving].mean())
        assert d["envelope"][numbers.index(r.apex)] == pytest.approx(1.0)
        assert d["envelope"][numbers.index(r.onset)] == 0.0
    assert np.median(ratios) < 0.6, ratios
    assert max(ratios) < 0.9, ratios


def test_class_decides_which_regions_move(synth_factory):
    root = synth_factory(format="casme2", subjects=4, clips_per_subject=8)
    gt = read_ground_truth(root)
    seen = set()
    for r in gt.itertuples():
        mag = np.hypot(*load_clip_ground_truth(root, r.subject, r.clip)["face_flow"].transpose(2, 0, 1))
        rows = np.arange(mag.shape[0])[:, None]
        centre_y = float((mag * rows).sum() / mag.sum()) / mag.shape[0]
        if r.label == "surprise":  # brows
            assert centre_y < 0.42, (r.clip, centre_y)
        if r.label in ("happiness", "repression"):  # mouth, cheeks, chin
            assert centre_y > 0.5, (r.clip, centre_y)  # below the face centre (~0.52 H)
        seen.add(r.label)
        assert 0.3 <= r.peak_px <= 2.0
    assert {"surprise", "happiness"} <= seen


def test_amplitude_scales_motion(tmp_path):
    cfg = dict(format="samm", subjects=2, clips_per_subject=2, height=64, width=56, quirks=False)
    a = generate(SynthConfig(**cfg, amplitude=0.5), tmp_path / "a", progress=False)
    b = generate(SynthConfig(**cfg, amplitude=0.0), tmp_path / "b", progress=False)
    pa, pb = read_ground_truth(a).peak_px, read_ground_truth(b).peak_px
    assert (pa > 0.15).all() and (pa <= 1.0).all()
    assert (pb == 0).all()


def test_refuses_to_overwrite_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    cfg = SynthConfig(format="samm", subjects=2, clips_per_subject=1, height=56, width=48)
    out = tmp_path / "ds"
    out.mkdir()
    with pytest.raises(DatasetError, match="already exists"):
        generate(cfg, out, progress=False)
    out.rmdir()

    calls = {"n": 0}
    real = cv2.imwrite

    def failing(path, img, params=()):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError("disk full")
        return real(path, img, params)

    monkeypatch.setattr(cv2, "imwrite", failing)
    with pytest.raises(OSError):
        generate(cfg, out, progress=False)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left either


def test_bad_config_is_named():
    with pytest.raises(DatasetError, match="subjects"):
        SynthConfig(subjects=0).validate()
    with pytest.raises(DatasetError, match="format"):
        SynthConfig(format="smic9").validate()


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["synth", "--format", "casme2", "--out", str(out), "--subjects", "2", "--clips-per-subject", "1",
               "--height", "56", "--width", "48", "--seed", "1", "--quiet"])
    assert rc == 0
    assert (out / "CASME2-coding-20190701.xlsx").is_file()
    assert len(read_ground_truth(out)) == 2 + 2  # two regular clips + fear + sadness
    assert main(["synth", "--out", str(out), "--quiet"]) == 1  # exists: a failed input, a clear error, no traceback
    assert "already exists" in capsys.readouterr().err


def test_label_shares_follow_real_dataset():
    seq = synthetic._label_sequence(np.random.default_rng(0), "casme2", 100)
    counts = {c: seq.count(c) for c in set(seq)}
    assert counts["others"] > counts["disgust"] > counts["happiness"] >= counts["surprise"]
    assert sum(counts.values()) == 100
    small = synthetic._label_sequence(np.random.default_rng(0), "samm", 5)
    assert sorted(small) == sorted(synthetic.layout_of("samm").shares)  # every class once


def test_hard_preset_subject_effects(tmp_path):
    """subject_motion adds the same motion of the subject's own to every clip of that subject (and a
    different one to another subject); class_variation turns a class's motion per subject; neither
    changes what the clips are (labels, timings)."""
    base = dict(subjects=2, clips_per_subject=3, height=56, width=48, quirks=False)
    plain = generate(SynthConfig(**base), tmp_path / "plain", progress=False)
    moved = generate(SynthConfig(**base, subject_motion=0.8), tmp_path / "moved", progress=False)
    turned = generate(SynthConfig(**base, class_variation=60.0), tmp_path / "turned", progress=False)
    truth = read_ground_truth(plain)
    assert truth.drop(columns="peak_px").equals(read_ground_truth(moved).drop(columns="peak_px"))
    extra = {}
    for r in truth.itertuples():
        a = load_clip_ground_truth(plain, r.subject, r.clip)["face_flow"]
        b = load_clip_ground_truth(moved, r.subject, r.clip)["face_flow"]
        c = load_clip_ground_truth(turned, r.subject, r.clip)["face_flow"]
        extra.setdefault(r.subject, []).append(b - a)
        assert np.allclose(np.hypot(*c.transpose(2, 0, 1)), np.hypot(*a.transpose(2, 0, 1)), atol=1e-4)  # turned, not scaled
        assert not np.allclose(c, a, atol=1e-3)
    for subject, diffs in extra.items():
        assert np.abs(diffs[0]).max() > 0.3 and all(np.allclose(d, diffs[0], atol=1e-5) for d in diffs)
    assert not np.allclose(extra["sub01"][0], extra["sub02"][0], atol=1e-3)
