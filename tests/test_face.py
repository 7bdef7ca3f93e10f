"""Face detection and cropping on synthetic uncropped frames (the detector ships inside OpenCV)."""
import cv2
import h5py
import numpy as np
import pandas as pd
import pytest

from microexpr.datasets import frame_paths, load_manifest
from microexpr.datasets.synthetic import read_ground_truth
from microexpr.errors import DatasetError
from microexpr.face import crop_box, detect_subject, read_crops, read_transforms
from microexpr.preprocess import magnify_subject
from test_workflow import snakemake


@pytest.fixture(scope="module")
def uncropped(synth_factory):
    return synth_factory(format="samm", uncropped=True, quirks=False, height=120, width=100)


def test_uncropped_frames_hold_the_face_somewhere(uncropped):
    gt = read_ground_truth(uncropped)
    r = next(gt.itertuples())
    frame = cv2.imread(str(uncropped / r.subject / r.clip / f"{r.subject}_{r.onset:05d}.jpg"), 0)
    assert frame.shape == (240, 200)
    assert (gt.face_x0 >= 0).all() and (gt.face_x1 <= 200).all() and (gt.face_y1 <= 240).all()
    assert gt.groupby("subject").face_x0.nunique().max() == 1 and gt.face_x0.nunique() > 1  # per subject


@pytest.mark.parametrize("detector", ["haar", "dlib"])
def test_detected_boxes_cover_the_true_faces(uncropped, tmp_path, detector):
    m = load_manifest("samm", uncropped)
    gt = read_ground_truth(uncropped).set_index("clip")
    found = 0
    for subject in sorted(m.subject.unique()):
        table = detect_subject(m, subject, tmp_path / f"{subject}.tsv", detector=detector)
        for r in table.itertuples():
            if not r.found:
                assert "no face found" in r.reason and r.clip in r.reason
                continue
            found += 1
            g = gt.loc[r.clip]
            assert r.x1 - r.x0 == r.y1 - r.y0  # square
            ix = max(0, min(r.x1, g.face_x1) - max(r.x0, g.face_x0))
            iy = max(0, min(r.y1, g.face_y1) - max(r.y0, g.face_y0))
            face_area = (g.face_x1 - g.face_x0) * (g.face_y1 - g.face_y0)
            assert ix * iy >= 0.8 * face_area, r.clip  # the face is inside the crop (a fifth of its box is corners)
            assert (r.x1 - r.x0) ** 2 <= 3 * face_area, r.clip  # and the crop is not much more
    # Haar 11 of 15 here (the cascade was trained on real faces), dlib 15 of 15
    assert found >= (0.6 if detector == "haar" else 0.9) * len(m), found


def test_a_clip_without_a_face_is_named_and_left_out(uncropped, writable_copy, tmp_path):
    root = writable_copy(uncropped)
    m = load_manifest("samm", root)
    row = m[m.subject == "006"].iloc[0]
    onset = frame_paths(row)[0]
    cv2.imwrite(str(onset), np.full((240, 200), 128, np.uint8))  # an empty scene
    table = detect_subject(m, "006", tmp_path / "crops.tsv")
    miss = table[~table.found]
    assert list(miss["clip"]) == [row["clip"]] and str(onset) in miss.reason.iloc[0]
    crops = read_crops(tmp_path / "crops.tsv")
    out = magnify_subject(m, "006", tmp_path / "mag.h5", alpha=8, crops=crops, progress=False)
    with h5py.File(out) as h5:
        assert row["clip"] not in h5 and h5.attrs["skipped_no_face"] == row["sample_id"]
        first = h5[sorted(h5)[0]]["frames"]
        assert first.shape[1] == first.shape[2] < 200  # cropped to the square face box
    with pytest.raises(DatasetError, match="no face found in any clip"):
        magnify_subject(m, "006", tmp_path / "none.h5", alpha=8, crops=dict.fromkeys(crops), progress=False)


def test_clips_are_aligned_by_their_eyes_with_dlib(uncropped, tmp_path):
    """face.align: the crops file holds each clip's eye alignment; EVM runs on the aligned faces."""
    from microexpr import align

    m = load_manifest("samm", uncropped)
    table = detect_subject(m, "006", tmp_path / "crops.tsv", detector="dlib", align=True)
    transforms = read_transforms(tmp_path / "crops.tsv")
    assert table.found.all() and set(transforms) == set(table.sample_id)
    gt = read_ground_truth(uncropped).set_index("clip")
    for r in table.itertuples():  # the face's centre lands in the middle of the aligned face
        g, T = gt.loc[r.clip], transforms[r.sample_id]
        cx, cy = T[:, :2] @ [(g.face_x0 + g.face_x1) / 2, (g.face_y0 + g.face_y1) / 2] + T[:, 2]
        assert abs(cx - align.OUTPUT[1] / 2) < 0.1 * align.OUTPUT[1] and 0.35 < cy / align.OUTPUT[0] < 0.65
    out = magnify_subject(m, "006", tmp_path / "mag.h5", alpha=8, crops=read_crops(tmp_path / "crops.tsv"),
                          transforms=transforms, progress=False)
    with h5py.File(out) as h5:
        assert h5[sorted(h5)[0]]["frames"].shape[1:] == align.OUTPUT
    with pytest.raises(DatasetError, match="face.align.*needs face.detector: dlib"):
        detect_subject(m, "006", tmp_path / "haar.tsv", align=True)


def test_crop_box_stays_inside_the_image():
    assert crop_box((0, 0, 50, 50), 0.2, (100, 100)) == (0, 0, 70, 70)
    assert crop_box((70, 60, 40, 40), 0.25, (100, 100)) == (40, 40, 100, 100)
    assert crop_box((10, 10, 200, 200), 0.1, (120, 100)) == (0, 20, 100, 120)


@pytest.mark.workflow
def test_workflow_detects_and_aligns(tmp_path):
    """The workflow's crop stage with dlib and eye alignment (the Haar crop runs the same adapters: its
    library path is tested above)."""
    from microexpr import align

    config = ["name=faces", "dataset={format: samm}", "face={detect: true, detector: dlib, align: true}",
              "synthetic={subjects: 2, clips_per_subject: 2, height: 120, width: 100, uncropped: true, quirks: false}"]
    snakemake("preprocess", "--config", f"results={tmp_path}", *config)
    crops = sorted((tmp_path / "faces" / "crops").rglob("*.tsv"))
    assert [p.stem for p in crops] == ["006", "007"] and all(p.parent.name.startswith("dlib-") for p in crops)
    found = pd.concat([pd.read_csv(p, sep="\t") for p in crops]).found
    with h5py.File(next((tmp_path / "faces" / "magnified").rglob("006.h5"))) as h5:
        assert h5[sorted(h5)[0]]["frames"].shape[1:] == align.OUTPUT
    assert found.all()
