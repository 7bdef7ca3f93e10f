"""Long videos: the CAS(ME)^2 and SAMM long-video loaders, the synthetic long-video generator, spotting
scored by the MEGC protocol, and spot-then-recognise through predict."""

import json

import numpy as np
import pandas as pd
import pytest

from microexpr.datasets.longvideo import load_long_videos
from microexpr.datasets.synthetic_long import LongSynthConfig, generate_long, read_events
from microexpr.errors import DatasetError
from microexpr.longspot import LongSpotSettings, iou, match, score_spotting, spot_signal
from microexpr.spot_recognise import evaluate_dataset

# the sets the spotting figures in docs/predict.md are measured on (benchmarks/longspot.py prints them)
CASME_SQ = dict(format="casme_sq", subjects=4, videos_per_subject=2, seconds=30, micro_per_video=4, macro_per_video=2, seed=1)
SAMM_LV = dict(format="samm_lv", subjects=3, videos_per_subject=1, seconds=16, micro_per_video=4, macro_per_video=1, seed=1)


@pytest.fixture(scope="module")
def long_sets(tmp_path_factory):
    base = tmp_path_factory.mktemp("long")
    return {cfg["format"]: generate_long(LongSynthConfig(**cfg), base / cfg["format"], progress=False)
            for cfg in (CASME_SQ, SAMM_LV)}


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


def test_predict_spots_and_classifies_a_long_video(tiny_run, long_sets, tmp_path, capsys, caplog):
    from microexpr.__main__ import main

    run_dir = tiny_run[0]
    bundle = next((run_dir / "results" / "tiny" / "reports").rglob("final_model.pt"))
    video = next((long_sets["samm_lv"] / "SAMM_longvideos").iterdir())
    out = tmp_path / "out"
    assert main(["predict", "--model", str(bundle), str(video), "--fps", "200", "--out", str(out), "--png"]) == 0
    printed = capsys.readouterr().out
    assert f"{video}: long video (16 s, 3200 frames at 200 fps)" in printed
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


def test_spot_then_recognise_scores_a_coded_dataset(tiny_run, long_sets):
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
