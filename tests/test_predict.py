"""A trained model in use: the final-model bundle of a run, `microexpr predict` on frame folders and
videos, apex spotting, and the one-line errors for bad inputs."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from microexpr.datasets.synthetic import read_ground_truth
from microexpr.predict import PredictError, clip_inputs, load_bundle, read_clip, stream_tensors
from microexpr.preprocess import read_shard
from microexpr.spotting import spot_apex


def _write_video(frames, path, fourcc, fps=200.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (frames.shape[2], frames.shape[1]),
                             isColor=False)
    assert writer.isOpened(), f"OpenCV cannot write {fourcc}"
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def _cli(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "microexpr", *map(str, args)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.mark.workflow
def test_final_model_predicts_like_the_pipeline_on_folders_and_videos(tiny_run, tmp_path):
    run_dir, root, _, _ = tiny_run
    out = run_dir / "results" / "tiny"
    bundle_path = next((out / "reports").rglob("final_model.pt"))
    bundle = load_bundle(bundle_path)
    folds = [json.loads(p.read_text()) for p in (out / "folds").rglob("metrics.json")]
    assert bundle["epochs"] == int(np.median([f["best_epoch"] for f in folds])) + 1  # fixed from the folds
    assert bundle["settings"]["evm"]["alpha"] == 8 and bundle["settings"]["images"]["size"] == 32
    assert bundle["loso"]["n_folds"] == 3 and len(bundle["subjects"]) == 3 and bundle["versions"]["torch"]

    # a held-out subject's clip: predict's inputs are the shard's un-augmented sample
    manifest = pd.read_csv(out / "manifest.tsv", sep="\t", dtype={"subject": str})
    row = manifest.iloc[0]
    folder = root / "Cropped" / row.subject / row["clip"]
    clip = read_clip(folder, fps=200)
    inputs = clip_inputs(clip, bundle["settings"], onset=int(row.onset), apex=int(row.apex), offset=int(row.offset))
    shard = read_shard(next((out / "shards").rglob(f"{row.subject}.h5")), streams=("flow", "gray", "masked", "uvs"))
    i = int(np.flatnonzero(shard["sample_id"] == row.sample_id)[0])
    for stream in ("flow", "gray", "masked", "uvs"):  # the same library functions: the same pixels
        np.testing.assert_array_equal(getattr(inputs["streams"], stream), shard[stream][i], err_msg=stream)

    result = tmp_path / "folder"
    _cli("predict", "--model", bundle_path, folder, "--onset", row.onset, "--apex", row.apex, "--offset", row.offset,
         "--fps", 200, "--out", result, "--png")
    by_folder = pd.read_csv(result / "predictions.csv")
    probs = [f"p_{c}" for c in bundle["classes"]]
    assert np.isclose(by_folder[probs].sum(axis=1), 1, atol=1e-5).all() and (result / f"{folder.name}.png").is_file()

    # the same clip as a lossless video (frame numbers become 0-based indices; the rate comes from the file)
    start = clip.numbers.index(int(row.onset)) - bundle["settings"]["evm"]["pad_frames"]
    avi = _write_video(clip.frames, tmp_path / "clip.avi", "FFV1")
    first = clip.numbers[0]
    _cli("predict", "--model", bundle_path, avi, "--onset", int(row.onset) - first, "--apex", int(row.apex) - first,
         "--offset", int(row.offset) - first, "--out", tmp_path / "avi")
    by_video = pd.read_csv(tmp_path / "avi" / "predictions.csv")
    assert by_video.predicted.tolist() == by_folder.predicted.tolist() and start >= 0
    assert np.abs(by_video[probs].to_numpy() - by_folder[probs].to_numpy()).max() < 1e-4
    mp4 = _write_video(clip.frames, tmp_path / "clip.mp4", "mp4v")  # lossy: readable, probabilities valid
    lossy = json.loads(_cli("predict", "--model", bundle_path, mp4, "--out", tmp_path / "mp4", "--spotting",
                            "farneback").returncode == 0 and (tmp_path / "mp4" / "predictions.json").read_text())
    assert abs(sum(lossy["clips"][0]["probabilities"].values()) - 1) < 1e-5
    assert "spotted" in lossy["clips"][0]["how"] and lossy["clips"][0]["how"].endswith("; farneback flow)")
    with pytest.raises(PredictError, match="spotting must be one of \\['farneback', 'fd', 'tvl1'\\], got 'dis'"):
        clip_inputs(clip, bundle["settings"], spotting="dis")

    # the bundle's model on the shard's sample gives the probabilities predict printed
    from microexpr.predict import build_model

    import torch

    model = build_model(bundle)
    with torch.no_grad():
        direct = torch.softmax(model(stream_tensors(_shard_streams(shard, i), tuple(bundle["train"]["streams"]))), 1)[0]
    assert np.abs(direct.numpy() - by_folder[probs].to_numpy()[0]).max() < 1e-6

    # inside the workflow: snakemake predict on a folder of clips (frame folders and a video)
    new = tmp_path / "new_clips"
    new.mkdir()
    shutil.copytree(folder, new / folder.name)
    shutil.copy(avi, new / "clip.avi")
    cfg = tiny_run[2]
    from test_workflow import snakemake

    snakemake("predict", "--configfile", str(cfg), "--config", f"predict={{clips: {new}, fps: 200, spotting: farneback}}")
    table = pd.read_csv(next((out / "predictions").rglob("predictions.csv")))
    assert sorted(Path(p).name for p in table.input) == sorted(["clip.avi", folder.name])
    assert np.isclose(table[probs].sum(axis=1), 1, atol=1e-5).all() and table.how.str.contains("spotted").all()
    assert table.how.str.endswith("; farneback flow)").all()  # predict.spotting reached the spotter

    # a fold's model.pt is no bundle: one line naming it
    fold_model = next((out / "folds").rglob("model.pt"))
    bad = _cli("predict", "--model", fold_model, folder, "--fps", 200, check=False)
    assert bad.returncode == 1 and "bundle format" in bad.stderr and str(fold_model) in bad.stderr

    # a batch: two clips of one name in two subjects' folders keep apart, a bad clip is reported and skipped
    batch = tmp_path / "batch"
    for subject in ("subA", "subB"):
        shutil.copytree(folder, batch / subject / "EP01")
    (batch / "subC" / "EP01").mkdir(parents=True)  # no frames
    clips = [batch / "subA" / "EP01", batch / "subC" / "EP01", batch / "subB" / "EP01"]
    run = _cli("predict", "--model", bundle_path, *clips, "--onset", row.onset, "--apex", row.apex,
               "--offset", row.offset, "--fps", 200, "--out", tmp_path / "batch_out", "--png", check=False)
    assert run.returncode == 1 and "1 of 3 clip(s) failed" in run.stderr and str(clips[1]) in run.stderr
    assert sorted(p.name for p in (tmp_path / "batch_out").glob("*.png")) == ["subA__EP01.png", "subB__EP01.png"]
    written = json.loads((tmp_path / "batch_out" / "predictions.json").read_text())
    assert [c["input"] for c in written["clips"]] == [str(clips[0]), str(clips[2])]
    assert [f["input"] for f in written["failed"]] == [str(clips[1])] and "needs at least two frames" in written["failed"][0]["error"]
    assert len(pd.read_csv(tmp_path / "batch_out" / "predictions.csv")) == 2
    # a table of clips, each with its own onset, apex, offset and frame rate (paths relative to the table)
    (batch / "clips.csv").write_text("path,onset,apex,offset,fps\n"
                                     f"subA/EP01,{row.onset},{row.apex},{row.offset},200\n"
                                     f"subB/EP01,,{row.apex},,200\n")
    _cli("predict", "--model", bundle_path, "--clips", batch / "clips.csv", "--out", tmp_path / "table_out")
    table = pd.read_csv(tmp_path / "table_out" / "predictions.csv")
    assert table.input.tolist() == [str(batch / "subA" / "EP01"), str(batch / "subB" / "EP01")]
    assert table.how.tolist() == ["onset, apex and offset given",
                                  "apex given; onset/offset the first/last frame where not given"]
    assert (table.apex == int(row.apex)).all() and table.onset.iloc[0] == int(row.onset)
    nowhere = _cli("predict", "--model", bundle_path, folder, "--fps", 200, "--png", check=False)
    assert nowhere.returncode == 2 and "give --out" in nowhere.stderr


def _shard_streams(shard, i):
    from microexpr.streams import StreamImages

    return StreamImages(flow=shard["flow"][i], gray=shard["gray"][i], masked=shard["masked"][i],
                        mask=np.zeros_like(shard["gray"][i]), uvs=shard["uvs"][i])


@pytest.mark.workflow
@pytest.mark.parametrize("method", ["lbptop", "hoof"])
def test_a_hand_crafted_bundle_predicts_from_the_features_the_stage_makes(tiny_run, tmp_path, method):
    """predict describes a clip exactly as rule features does (same magnified frames, same flow), and a
    hand-crafted final model (an SVM as tensors) classifies it."""
    from microexpr.datasets import read_manifest
    from microexpr.handcrafted import features_subject, read_features
    from microexpr.training import TrainConfig, train_final

    run_dir, root, _, _ = tiny_run
    out = run_dir / "results" / "tiny"
    settings = {**load_bundle(next((out / "reports").rglob("final_model.pt")))["settings"],
                "features": {method: {"grid": [2, 2]}}}
    manifest = read_manifest(out / "manifest.tsv")
    classes = sorted(manifest.label.unique())
    files = []
    for subject in sorted(manifest.subject.unique()):
        files.append(features_subject(next((out / "magnified").rglob(f"{subject}.h5")),
                                      next((out / "flow").rglob(f"{subject}.h5")), manifest,
                                      tmp_path / f"{subject}.h5", method=method, settings={"grid": [2, 2]},
                                      classes=classes, progress=False))
    x, _, ids, _, _, _ = read_features(files)
    row = manifest.iloc[0]
    clip = read_clip(root / "Cropped" / row.subject / row["clip"], fps=200)
    inputs = clip_inputs(clip, settings, onset=int(row.onset), apex=int(row.apex), offset=int(row.offset))
    from microexpr.handcrafted import clip_features

    np.testing.assert_allclose(clip_features(method, inputs["block"], inputs["flow"], {"grid": [2, 2]}),
                               x[list(ids).index(row.sample_id)], atol=1e-6)
    bundle_path = tmp_path / "final_model.pt"
    train_final(files, bundle_path, TrainConfig(model=method, svm_folds=2), epochs=0, settings=settings,
                loso={"n_folds": 3})
    _cli("predict", "--model", bundle_path, root / "Cropped" / row.subject / row["clip"], "--onset", row.onset,
         "--apex", row.apex, "--offset", row.offset, "--fps", 200, "--out", tmp_path / "pred")
    pred = pd.read_csv(tmp_path / "pred" / "predictions.csv")
    assert pred.predicted.iloc[0] in classes
    assert np.isclose(pred[[f"p_{c}" for c in classes]].sum(axis=1), 1).all()


def test_bad_inputs_give_one_line_naming_them(tmp_path):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(PredictError, match="broken.avi: cannot be read as a video"):
        read_clip(broken)
    one = tmp_path / "one"
    one.mkdir()
    cv2.imwrite(str(one / "img1.jpg"), np.zeros((20, 20), np.uint8))
    with pytest.raises(PredictError, match="one: needs at least two frames"):
        read_clip(one, fps=200)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    cv2.imwrite(str(mixed / "img1.jpg"), np.zeros((20, 20), np.uint8))
    cv2.imwrite(str(mixed / "img2.jpg"), np.zeros((24, 20), np.uint8))
    with pytest.raises(PredictError, match="mixed: frames of different sizes"):
        read_clip(mixed, fps=200)
    with pytest.raises(PredictError, match="no frame rate"):
        read_clip(one.parent / "mixed")
    frames = tmp_path / "ok"
    frames.mkdir()
    for n in range(5, 10):
        cv2.imwrite(str(frames / f"img{n}.jpg"), np.full((20, 20), n, np.uint8))
    ok = read_clip(frames, fps=100)
    with pytest.raises(PredictError, match="onset 8 is after offset 6"):
        clip_inputs(ok, {}, onset=8, apex=7, offset=6)
    with pytest.raises(PredictError, match="apex 9 lies outside onset..offset"):
        clip_inputs(ok, {}, onset=5, apex=9, offset=7)
    with pytest.raises(PredictError, match="apex frame 42 is not among its frames 5..9"):
        clip_inputs(ok, {}, apex=42)
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(PredictError, match="model bundle not found"):
        load_bundle(missing)


def test_a_damaged_video_is_one_line_without_ffmpegs_own_messages(tmp_path):
    """A truncated MP4 (no moov atom): FFmpeg would print its own complaint to the terminal; the user sees
    only predict's line naming the file."""
    video = _write_video(np.random.default_rng(0).integers(0, 255, (30, 64, 64), dtype=np.uint8),
                         tmp_path / "whole.mp4", "mp4v")
    data = video.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    code = ("import sys; from microexpr.predict import read_clip, PredictError\n"
            "try:\n    read_clip(sys.argv[1])\nexcept PredictError as exc:\n    print('error:', exc)")
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "cut.mp4")], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env=env)
    assert "cut.mp4: cannot be read as a video" in run.stdout
    assert "moov" not in run.stderr and "mov,mp4" not in run.stderr, run.stderr


def test_spotted_apex_beats_the_middle_frame_on_synthetic_clips(synth_factory):
    """Known true apex: within 5 frames of it for at least 90 % of clips, which the middle frame is not."""
    root = synth_factory(format="casme2", subjects=3, clips_per_subject=5, height=72, width=64)
    truth = read_ground_truth(root)
    spotted, middle = [], []
    for r in truth.itertuples():
        folder = root / "Cropped" / r.subject / r.clip
        clip = read_clip(folder, fps=200)
        i_on, i_off = clip.numbers.index(r.onset), clip.numbers.index(r.offset)
        _, apex, _, _ = spot_apex(clip.frames, i_on, i_off)
        spotted.append(abs(clip.numbers[apex] - r.apex))
        middle.append(abs((r.onset + r.offset) // 2 - r.apex))
    spotted, middle = np.array(spotted), np.array(middle)
    assert (spotted <= 5).mean() >= 0.9 and (middle <= 5).mean() < 0.9, (spotted, middle)
    assert (spotted <= 2).mean() > (middle <= 2).mean(), (spotted, middle)


def test_spotting_measures_motion_with_the_flow_it_is_given():
    """``flow`` reaches the estimator: an unknown method is refused, Farneback and TV-L1 both find a
    moving square's apex (frame 6 of 0..10, a triangle of displacement)."""
    frames = np.zeros((11, 48, 48), np.uint8)
    for t in range(11):
        shift = 6 - abs(t - 6) if t <= 6 else max(0, 6 - 2 * (t - 6))
        frames[t, 16:32, 12 + shift:28 + shift] = 200
    with pytest.raises(ValueError, match="nope"):
        spot_apex(frames, 0, 10, flow={"method": "nope"})
    for flow in ({"method": "tvl1"}, {"method": "farneback"}, {"method": "farneback", "min_height": 96}):
        assert abs(spot_apex(frames, 0, 10, flow=flow)[1] - 6) <= 1, flow


def test_building_the_cli_parser_imports_no_dataset_loader():
    """``predict`` starts without pandas: format names are checked only when a command takes one."""
    code = ("import sys, microexpr.__main__ as m; m.build_parser(); "
            "assert 'pandas' not in sys.modules, 'pandas imported'")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr


def test_an_unknown_format_is_a_usage_error_listing_the_registered_ones(tmp_path):
    from microexpr.datasets import format_names

    out = _cli("synth", "--format", "casme9", "--out", tmp_path / "x", check=False)
    assert out.returncode == 2 and "unknown format 'casme9'" in out.stderr, out.stderr
    assert all(name in out.stderr for name in format_names())
    assert not (tmp_path / "x").exists()


def test_output_names_are_unique_within_a_batch(tmp_path):
    from microexpr.predict import output_names

    for p in ("a/sub01/EP01", "a/sub02/EP01", "a/sub02/clip.avi"):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "a/sub01/EP01").mkdir()
    (tmp_path / "a/sub02/EP01").mkdir()
    (tmp_path / "a/sub02/clip.avi").write_bytes(b"")
    paths = [tmp_path / "a/sub01/EP01", tmp_path / "a/sub02/EP01", tmp_path / "a/sub02/clip.avi", tmp_path / "a/sub01/EP01"]
    assert output_names([str(p) for p in paths]) == ["sub01__EP01", "sub02__EP01", "sub02__clip", "sub01__EP01__2"]
    assert output_names([str(tmp_path / "a/sub02/clip.avi")]) == ["clip"]


def test_a_frame_rate_below_the_models_band_names_the_lowest_it_accepts(tmp_path):
    from microexpr.predict import Clip, PredictError, clip_inputs, read_clip

    clip = Clip("clip.avi", np.zeros((12, 32, 32), np.uint8), list(range(12)), 30.0)
    settings = {"evm": {"alpha": 8, "filter": "ideal", "low_hz": 5.0, "high_hz": 20.0}}
    with pytest.raises(PredictError, match=r"clip.avi: 30 fps is too low for the model's EVM band \(5-20 Hz.*at least 40 fps"):
        clip_inputs(clip, settings, onset=0, apex=5, offset=11)
    for bad in (0, -5, float("nan")):
        with pytest.raises(PredictError, match="frame rate must be a positive number"):
            read_clip(tmp_path, fps=bad)


def test_a_clip_table_is_read_with_errors_named_by_line(tmp_path):
    from microexpr.predict import PredictError, read_clip_table

    good = tmp_path / "clips.csv"
    good.write_text("path,apex,fps\nsub01/EP01,714,200\n/abs/clip.avi,,\n")
    assert read_clip_table(good) == {str(tmp_path / "sub01" / "EP01"): {"onset": None, "apex": 714, "offset": None, "fps": 200.0},
                                     "/abs/clip.avi": {"onset": None, "apex": None, "offset": None, "fps": None}}
    for text, message in (("path,apex\na,7\nb,seven\n", "line 3: apex 'seven' is not an integer"),
                          ("path,apexx\na,7\n", "expected path and any of"),
                          ("path,fps\na,fast\n", "line 2: fps 'fast' is not a number"),
                          ("path\na\na\n", "line 3: .* is listed twice"),
                          ("path\n", "no clips")):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(PredictError, match=message):
            read_clip_table(bad)


def test_an_uncropped_clip_is_cut_to_its_face_for_a_model_trained_on_crops(tiny_run, synth_factory):
    """The faces extra (installed with the tests): a clip whose onset frame shows a face smaller than a face
    crop is cut to it before EVM, and ``how`` says so; a crop stays whole; ``uncropped="none"`` never cuts."""
    bundle = load_bundle(next((tiny_run[0] / "results" / "tiny" / "reports").rglob("final_model.pt")))
    assert not bundle["settings"]["face"]["detect"]
    scene = synth_factory(format="casme2", uncropped=True, quirks=False, height=120, width=100)
    r = next(read_ground_truth(scene).itertuples())
    clip = read_clip(scene / "Cropped" / r.subject / r.clip, fps=200)
    marks = dict(onset=r.onset, apex=r.apex, offset=r.offset)
    inputs = clip_inputs(clip, bundle["settings"], **marks)
    assert "the onset frame shows a face smaller than a face crop: cut to x" in inputs["how"]
    cut = inputs["onset_frame"].shape
    assert cut[0] == cut[1] < 200  # square, smaller than the 240 x 200 scene
    assert "cut to" not in clip_inputs(clip, bundle["settings"], **marks, uncropped="none")["how"]
    cropped = synth_factory(format="casme2", quirks=False, height=120, width=100)
    r = next(read_ground_truth(cropped).itertuples())
    crop = read_clip(cropped / "Cropped" / r.subject / r.clip, fps=200)
    assert "cut to" not in clip_inputs(crop, bundle["settings"], onset=r.onset, apex=r.apex, offset=r.offset)["how"]
