"""Long videos: the CAS(ME)^2 and SAMM long-video loaders, the synthetic long-video generator, spotting
scored by the MEGC protocol, and spot-then-recognise through predict."""

import json

import numpy as np
import pandas as pd
import pytest

from microexpr.datasets.longvideo import load_long_videos
from microexpr.datasets.synthetic_long import REFERENCE_SETS, LongSynthConfig, generate_long, read_events
from microexpr.errors import DatasetError
from microexpr.longspot import LongSpotSettings, iou, match, score_spotting, spot_signal
from microexpr.spot_eval import evaluate_dataset

CASME_SQ, SAMM_LV = REFERENCE_SETS["casme_sq"], REFERENCE_SETS["samm_lv"]  # what docs/spotting.md measures


@pytest.fixture(scope="session")
def long_sets(tmp_path_factory, worker_id):
    """The two reference sets, written once per test session (under pytest-xdist one process writes them,
    the other waits), read-only for the tests."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    base = base.parent if worker_id != "master" else base
    with FileLock(str(base / "long.lock")):
        sets = {}
        for cfg in (CASME_SQ, SAMM_LV):
            out = base / "long" / cfg["format"]
            if not out.exists():  # written atomically: there, or not at all
                generate_long(LongSynthConfig(**cfg), out, progress=False)
            sets[cfg["format"]] = out
    return sets


@pytest.mark.parametrize("fmt", ["casme_sq", "samm_lv"])
def test_synthetic_long_videos_load_with_their_coded_intervals(long_sets, fmt):
    root = long_sets[fmt]
    videos, intervals, report = load_long_videos(fmt, root)
    events = read_events(root)
    cfg = CASME_SQ if fmt == "casme_sq" else SAMM_LV
    assert len(videos) == cfg["subjects"] * cfg["videos_per_subject"]
    assert (videos.frames == int(cfg["seconds"] * {"casme_sq": 30, "samm_lv": 200}[fmt])).all()
    coded = events[events.coded]
    assert len(intervals) == len(coded)  # every coded expression; blinks are not coded
    assert set(intervals.type) == {"micro", "macro"} and not (events[~events.coded].type != "blink").any()
    # the planted rows: an onset coded 0 is repaired from the apex; an interval past the video is dropped
    assert report.action.tolist().count("repaired") == 1 and "onset 0" in report[report.action == "repaired"].reason.iloc[0]
    dropped = report[report.action == "dropped"]
    assert len(dropped) == 1 and "not ordered inside the video's frames" in dropped.reason.iloc[0]
    merged = intervals.merge(coded, on=["subject", "video", "apex"], suffixes=("", "_true"))
    assert len(merged) == len(coded) and (merged.offset == merged.offset_true).all()
    assert ((merged.onset == merged.onset_true) | (merged.onset == merged.apex)).all()
    micro = coded[coded.type == "micro"]
    assert ((micro.offset - micro.onset + 1) / {"casme_sq": 30, "samm_lv": 200}[fmt] <= 0.5 + 1e-9).all()


def test_sheet_damage_is_named_by_file_and_row(long_sets, tmp_path):
    import shutil

    from openpyxl import load_workbook

    root = tmp_path / "samm"
    shutil.copytree(long_sets["samm_lv"], root)
    sheet = next(root.glob("SAMM_LongVideos_*.xlsx"))
    wb = load_workbook(sheet)
    ws = wb["FACS_Movement_Only"]
    ws.cell(row=12, column=4).value = "soon"  # an onset that is no frame number
    wb.save(sheet)
    with pytest.raises(DatasetError, match=r"SAMM_LongVideos_V1_Release.xlsx, row 12: onset 'soon' is not a frame number"):
        load_long_videos("samm_lv", root)
    ws.cell(row=10, column=4).value = "Start"  # the header loses its Onset column
    wb.save(sheet)
    with pytest.raises(DatasetError, match=r"row 10: no column\(s\) Onset"):
        load_long_videos("samm_lv", root)
    with pytest.raises(DatasetError, match="unknown long-video dataset 'casme3'"):
        load_long_videos("casme3", root)


def test_the_megc_protocol_matches_one_spot_per_interval_at_iou_half():
    assert iou((10, 19), (10, 19)) == 1.0 and iou((0, 9), (10, 19)) == 0.0
    assert iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    # two spots on one expression: one true positive, one false positive
    assert match([(10, 19), (10, 20)], [(10, 20)]) == [(1, 0, 1.0)]  # the better one is the match
    assert match([(10, 14)], [(10, 20)]) == []  # IoU 5/11: too little
    truth = [{"subject": "s", "video": "v", "type": "micro", "onset": 10, "offset": 20},
             {"subject": "s", "video": "v", "type": "macro", "onset": 100, "offset": 200},
             {"subject": "t", "video": "v", "type": "micro", "onset": 10, "offset": 20}]
    spotted = [{"subject": "s", "video": "v", "type": "micro", "onset": 10, "offset": 19},
               {"subject": "s", "video": "v", "type": "micro", "onset": 11, "offset": 20},
               {"subject": "s", "video": "v", "type": "micro", "onset": 100, "offset": 200},  # the right span, wrong type
               {"subject": "t", "video": "v", "type": "micro", "onset": 16, "offset": 30}]   # IoU 5/21
    sc = score_spotting(spotted, truth)
    assert (sc["micro"]["tp"], sc["micro"]["fp"], sc["micro"]["fn"]) == (1, 3, 1)
    assert (sc["macro"]["tp"], sc["macro"]["fn"]) == (0, 1) and sc["macro"]["f1"] == 0.0
    assert sc["overall"]["precision"] == pytest.approx(1 / 4) and sc["overall"]["recall"] == pytest.approx(1 / 3)
    assert score_spotting([], truth)["overall"]["f1"] == 0.0


def test_spotting_finds_the_synthetic_micro_expressions(long_sets):
    tp = fp = fn = 0
    for fmt, root in long_sets.items():
        sc = evaluate_dataset(fmt, root)["scores"]
        assert sc["macro"]["recall"] >= 0.9, (fmt, sc["macro"])
        tp, fp, fn = tp + sc["micro"]["tp"], fp + sc["micro"]["fp"], fn + sc["micro"]["fn"]
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.8, (tp, fp, fn)  # measured 0.857 (TP 36, FP 4, FN 8)


def test_a_still_face_has_nothing_to_spot_and_bad_videos_are_refused(tmp_path):
    root = generate_long(LongSynthConfig(format="casme_sq", subjects=1, seconds=20, micro_per_video=0, macro_per_video=0,
                                         blinks_per_minute=20, quirks=False), tmp_path / "still", progress=False)
    videos, intervals, _ = load_long_videos("casme_sq", root)
    from microexpr.spot_recognise import FrameSource, spot_source

    signal, found = spot_source(FrameSource(videos.folder.iloc[0], 30.0))
    assert found == [] and intervals.empty  # blinks and head motion are not expressions
    frames = np.full((60, 64, 64), 128, np.uint8)
    with pytest.raises(ValueError, match="uniform"):
        spot_signal(frames, 30.0)
    with pytest.raises(ValueError, match="too few to spot in"):
        spot_signal(np.random.default_rng(0).integers(0, 255, (20, 64, 64), dtype=np.uint8), 30.0)
    with pytest.raises(ValueError, match="unknown key"):
        LongSpotSettings.from_dict({"treshold": 3})
    import cv2

    from microexpr.predict import PredictError

    one = tmp_path / "one"
    one.mkdir()
    cv2.imwrite(str(one / "img1.jpg"), frames[0])
    with pytest.raises(PredictError, match="one: needs at least two frames, found 1"):
        FrameSource(one, 30.0)


def test_predict_spots_and_classifies_a_long_video(tiny_run, long_sets, tmp_path, capsys, caplog):
    from microexpr.__main__ import main

    run_dir = tiny_run[0]
    bundle = next((run_dir / "results" / "tiny" / "reports").rglob("final_model.pt"))
    video = next((long_sets["samm_lv"] / "SAMM_longvideos").iterdir())
    out = tmp_path / "out"
    assert main(["predict", "--model", str(bundle), str(video), "--fps", "200", "--out", str(out), "--png"]) == 0
    printed = capsys.readouterr().out
    assert f"{video}: long video (16 s, 3200 frames at 200 fps; " in printed
    table = pd.read_csv(out / f"{video.name}_intervals.csv")
    classes = json.loads((out / f"{video.name}_intervals.json").read_text())["intervals"]
    micro = table[table.type == "micro"]
    assert len(micro) >= 3 and micro.predicted.notna().all() and len(classes) == len(table)
    probs = micro[[c for c in table.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (table[table.type == "macro"].predicted.isna()).all()
    assert (out / f"{video.name}_timeline.png").stat().st_size > 10_000
    # --clip: the same input as one clip is refused for its length, naming it
    assert main(["predict", "--model", str(bundle), str(video), "--fps", "200", "--clip"]) == 1
    assert f"{video}: 3200 frames, more than the 1000 read at most" in caplog.text
    # a 30 fps CAS(ME)^2 video: spotted, but the model's EVM band needs 40 fps: said for each interval
    casme = next((long_sets["casme_sq"] / "rawpic").glob("*/*"))
    assert main(["predict", "--model", str(bundle), str(casme), "--fps", "30"]) == 0
    assert "not classified: " in capsys.readouterr().out


def test_spot_then_recognise_scores_a_coded_dataset(tiny_run, long_sets, tmp_path):
    run_dir = tiny_run[0]
    bundle = next((run_dir / "results" / "tiny" / "reports").rglob("final_model.pt"))
    root = long_sets["samm_lv"]
    events = read_events(root)
    labels = {(r.subject, r.video, int(r.apex)): r.label for r in events[events.type == "micro"].itertuples()}
    result = evaluate_dataset("samm_lv", root, model_path=bundle, labels=labels)
    strs = result["scores"]["spot_then_recognise"]
    micro = result["scores"]["micro"]
    assert strs["coded_micro"] == micro["tp"] + micro["fn"]
    assert 0 <= strs["correct"] <= micro["tp"]  # only a spotted expression can be recognised
    from microexpr.predict import load_bundle

    spotted = result["spotted"]
    assert set(spotted[spotted.type == "micro"].predicted) <= set(load_bundle(bundle)["classes"])

    # the files and the page, laid out in headless Chromium: scores, every video, two timelines decoded
    import re
    import subprocess

    from test_compare import _chromium
    from microexpr.spot_eval import write_evaluation

    out = write_evaluation(result, tmp_path / "spots", png=2, title="samm_lv")
    assert json.loads((out / "scores.json").read_text())["micro"] == micro
    assert (out / "scores.tex").read_text().count("\\\\") >= 3 and len(pd.read_csv(out / "scores.csv")) == 3
    page = (out / "report.html").read_text()
    assert "Synthetic long videos" in page and "spotted and recognised" in page
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium found (scripts/ensure_chromium.sh)")
    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", """<script>window.addEventListener('load', () => {
      const imgs = [...document.images]; document.title = 'PROBE ' + JSON.stringify({images: imgs.length,
      decoded: imgs.filter(i => i.complete && i.naturalWidth > 600).length,
      rows: document.querySelectorAll('#video-table tbody tr').length});});</script></body>"""))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=120)
    laid_out = json.loads(re.search(r"<title>PROBE (\{.*?\})</title>", dom.stdout).group(1))
    assert laid_out == {"images": 2, "decoded": 2, "rows": 3}, laid_out


def test_the_long_video_formats_and_defaults_are_named_once():
    """The CLI and the schema take the registered long-video formats; synth-long's defaults are
    LongSynthConfig's; the schema's spotting.method defaults are checked in test_config."""
    import dataclasses

    import yaml

    from conftest import ROOT
    from microexpr.__main__ import LONG_FORMAT_NAMES, build_parser
    from microexpr.datasets.longvideo import LONG_FORMATS

    assert list(LONG_FORMAT_NAMES) == sorted(LONG_FORMATS)
    schema = yaml.safe_load((ROOT / "microexpr" / "schemas" / "config.schema.yaml").read_text())
    assert schema["properties"]["spotting"]["properties"]["dataset"]["enum"] == sorted(LONG_FORMATS)
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "synth-long" in a.choices)
    options = {a.dest: a for a in sub.choices["synth-long"]._actions}
    for f in dataclasses.fields(LongSynthConfig):  # every setting is an option, with its default
        assert options[f.name].default == f.default, f.name
    assert "--micro" in options["micro_per_video"].option_strings


def test_the_spot_target_spots_scores_and_classifies_with_the_runs_final_model(tiny_copy):
    from test_workflow import snakemake

    tmp_path, _, cfg = tiny_copy
    run = snakemake("spot", "--configfile", str(cfg), "--config",
                    "spotting={synthetic: {subjects: 1, seconds: 12}, png: 1}")
    assert "rule train_fold" not in run.stderr and "rule synthesize_long" in run.stderr
    (folder,) = (tmp_path / "results" / "tiny" / "spotting").iterdir()
    scores = json.loads((folder / "scores.json").read_text())
    assert scores["videos"] == 1 and 0 <= scores["micro"]["f1"] <= 1
    assert scores["spot_then_recognise"]["coded_micro"] == 4  # the reference set: 4 a video
    spotted = pd.read_csv(folder / "spotted.csv")
    assert spotted[spotted.type == "micro"].predicted.notna().all()
    assert len(list(folder.glob("timeline_*.png"))) == 1
    report = tmp_path / "spot_report.html"  # snakemake --report registers the spotting page
    snakemake("spot", "--report", str(report), "--configfile", str(cfg), "--config",
              "spotting={synthetic: {subjects: 1, seconds: 12}, png: 1}")
    assert "Spotting" in report.read_text() and "scored by the MEGC protocol" in report.read_text()
    assert "rule spot_videos" not in snakemake("spot", "--configfile", str(cfg), "--config",
                                               "spotting={synthetic: {subjects: 1, seconds: 12}, png: 1}").stderr
    bad = snakemake("spot", "--configfile", str(cfg), "--config", "spotting={synthetic: {secs: 12}}", check=False)
    assert bad.returncode != 0 and "unknown config key 'spotting.synthetic.secs'" in bad.stderr
    # a root that is not there stops the spot target, naming the key, and nothing else
    snakemake("-n", "--configfile", str(cfg), "--config", f"spotting={{root: {tmp_path / 'nowhere'}}}")
    bad = snakemake("-n", "spot", "--configfile", str(cfg), "--config", f"spotting={{root: {tmp_path / 'nowhere'}}}",
                    check=False)
    assert bad.returncode != 0 and "config key 'spotting.root': folder not found" in bad.stdout + bad.stderr


def test_the_schema_takes_every_synthetic_long_video_setting():
    import dataclasses

    import yaml

    from conftest import ROOT

    schema = yaml.safe_load((ROOT / "microexpr" / "schemas" / "config.schema.yaml").read_text())
    keys = set(schema["properties"]["spotting"]["properties"]["synthetic"]["properties"])
    assert keys == {f.name for f in dataclasses.fields(LongSynthConfig)} - {"format"}  # format: spotting.dataset


@pytest.fixture(scope="module")
def uncropped(tmp_path_factory):
    """Four short still CAS(ME)^2-layout videos, each face at a random place on a scene twice its size."""
    cfg = LongSynthConfig(format="casme_sq", subjects=4, seconds=3, micro_per_video=0, macro_per_video=0,
                          blinks_per_minute=0, uncropped=True, quirks=False)
    root = generate_long(cfg, tmp_path_factory.mktemp("unc") / "unc", progress=False)
    return root, pd.read_csv(root / "ground_truth" / "faces.tsv", sep="\t", dtype={"video": str})


def test_eye_alignment_puts_the_eyes_level_and_a_fixed_distance_apart():
    from microexpr import align

    left, right = np.array([40.0, 60.0]), np.array([80.0, 50.0])  # tilted, 41 px apart
    T = align.eye_transform(left, right, (128, 104))
    l2, r2 = T[:, :2] @ left + T[:, 2], T[:, :2] @ right + T[:, 2]
    np.testing.assert_allclose(l2[1], r2[1], atol=1e-9)  # level
    np.testing.assert_allclose(r2[0] - l2[0], align.EYE_DISTANCE * 104, atol=1e-9)
    np.testing.assert_allclose((l2 + r2) / 2, [52, align.EYE_Y * 128], atol=1e-9)
    frame = np.zeros((480, 640), np.uint8)
    frame[200:260, 300:340] = 255  # a bright block, halved twice before the warp, lands where T maps it
    T = align.eye_transform(np.array([300.0, 200.0]), np.array([400.0, 200.0]), (128, 104))
    out = align.align(frame, T, (128, 104))
    assert out.shape == (128, 104)
    centre = T[:, :2] @ [320, 230] + T[:, 2]
    assert out[int(centre[1]), int(centre[0])] > 200 and out[5, 5] == 0
    with pytest.raises(align.AlignError, match="same place"):
        align.eye_transform(left, left)


def test_uncropped_long_videos_are_aligned_by_the_eyes(uncropped):
    """The faces extra (installed with the tests): the eyes found on the first frame put every frame into an
    aligned face; frames that are a face crop already stay whole."""
    from microexpr import align
    from microexpr.spot_recognise import FrameSource, find_face

    assert align.available()
    root, faces = uncropped
    for t in faces.itertuples():
        source = FrameSource(next((root / "rawpic" / t.subject).iterdir()), 30.0)
        assert find_face(source, "auto").startswith("aligned by the eyes found on the first frame")
        assert next(source.frames()).shape == align.OUTPUT
        T = source.transform
        for (x, y), want in (((t.eye_lx, t.eye_ly), 0.5 - align.EYE_DISTANCE / 2), ((t.eye_rx, t.eye_ry), 0.5 + align.EYE_DISTANCE / 2)):
            got = T[:, :2] @ [x, y] + T[:, 2]  # the true eye, mapped (head motion moves it by a pixel or so)
            assert abs(got[0] - want * align.OUTPUT[1]) < 0.2 * align.EYE_DISTANCE * align.OUTPUT[1]
            lo, hi = LongSpotSettings().eye_band  # inside the band the spotter leaves out
            assert lo * align.OUTPUT[0] < got[1] < hi * align.OUTPUT[0]
    cropped = generate_long(LongSynthConfig(format="casme_sq", subjects=1, seconds=3, micro_per_video=0, macro_per_video=0,
                                            blinks_per_minute=0, quirks=False), root.parent / "cropped", progress=False)
    source = FrameSource(next((cropped / "rawpic" / "s15").iterdir()), 30.0)
    assert find_face(source, "auto") == "the face fills the frame: whole frames" and source.transform is None


def test_without_alignment_faces_are_cut_to_the_haar_box(uncropped, monkeypatch, tmp_path):
    """auto: a face found smaller than the frame cuts every frame to it; none found: whole frames, said;
    detect: a face must be found. The choices are the CLI's and the schema's."""
    import cv2
    import yaml

    from conftest import ROOT
    from microexpr import align
    from microexpr.__main__ import build_parser
    from microexpr.predict import PredictError
    from microexpr.spot_recognise import FACE_MODES, FrameSource, find_face

    monkeypatch.setattr(align, "available", lambda: False)
    root, faces = uncropped
    cut = 0
    for t in faces.itertuples():
        source = FrameSource(next((root / "rawpic" / t.subject).iterdir()), 30.0)
        said = find_face(source, "auto")
        if source.crop is None:
            assert said == "no face found on the first frame: whole frames", said
            continue
        assert said.startswith("face found on the first frame: cut to")
        x0, y0, x1, y1 = source.crop
        inter = max(0, min(x1, t.x1) - max(x0, t.x0)) * max(0, min(y1, t.y1) - max(y0, t.y0))
        assert inter / ((t.x1 - t.x0) * (t.y1 - t.y0)) > 0.9  # the cut holds the face
        assert next(source.frames()).shape == (y1 - y0, x1 - x0)
        cut += 1
    assert cut >= 1
    scene = tmp_path / "scene"  # textured frames without a face
    scene.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(scene / f"img{i + 1}.jpg"), cv2.GaussianBlur(rng.integers(0, 255, (240, 320), dtype=np.uint8), (0, 0), 3))
    with pytest.raises(PredictError, match="scene: no face found on the first frame"):
        find_face(FrameSource(scene, 30.0), "detect")
    assert find_face(source, "none").startswith("whole frames") and source.crop is None
    schema = yaml.safe_load((ROOT / "microexpr" / "schemas" / "config.schema.yaml").read_text())
    assert schema["properties"]["spotting"]["properties"]["face"]["enum"] == list(FACE_MODES)
    for command in ("predict", "spot"):
        sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and command in a.choices)
        option = next(a for a in sub.choices[command]._actions if "--face" in a.option_strings)
        assert option.choices == list(FACE_MODES) and option.default == "auto"


def test_a_long_video_file_is_read_with_its_own_frame_rate(long_sets, tmp_path):
    """A video file (not a folder): its frame count and rate come from the file; frames are read on demand,
    also from the middle."""
    import cv2

    from microexpr.spot_recognise import FrameSource, predict_long

    folder = next((long_sets["samm_lv"] / "SAMM_longvideos").iterdir())
    frames = list(FrameSource(folder, 200.0).frames(0, 1000))
    video = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 200.0, frames[0].shape[::-1], isColor=False)
    for f in frames:
        writer.write(f)
    writer.release()
    source = FrameSource(video)
    assert (len(source), source.fps) == (1000, 200.0)
    np.testing.assert_array_equal(next(source.frames(500, 501)), frames[500])  # lossless: the same pixels
    result = predict_long(None, video, out_dir=tmp_path / "out")
    assert result["frames"] == 1000 and (tmp_path / "out" / "long_intervals.csv").is_file()
