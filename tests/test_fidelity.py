"""Pre-processing fidelity against the synthetic generator's known motion."""
import numpy as np
import pytest

from microexpr.datasets import load_manifest
from microexpr.datasets.synthetic import load_clip_ground_truth
from microexpr.fidelity import clip_fidelity, flow_file_fidelity
from microexpr.preprocess import flow_subject, magnify_subject


def test_true_motion_scores_perfectly_and_noise_does_not(synth_factory):
    root = synth_factory()
    truth = load_clip_ground_truth(root, "sub01", sorted((root / "ground_truth" / "sub01").iterdir())[0].stem)["face_flow"]
    exact = clip_fidelity(truth * 9.0, truth, global_motion="none")  # magnified: only the direction counts
    assert exact["cosine"] == pytest.approx(1.0, abs=1e-5) and exact["contrast"] > 10 and exact["iou"] > 0.3
    noise = np.random.default_rng(0).normal(0, np.abs(truth).max(), truth.shape).astype(np.float32)
    bad = clip_fidelity(noise, truth)
    assert abs(bad["cosine"]) < 0.2 and bad["contrast"] < 1.5 and bad["iou"] < exact["iou"]


def test_estimated_flow_follows_the_known_motion(synth_factory, tmp_path):
    root = synth_factory()
    manifest = load_manifest("casme2", root, "all")
    mag, flow = tmp_path / "m.h5", tmp_path / "f.h5"
    magnify_subject(manifest, "sub01", mag, alpha=0, progress=False)
    flow_subject(mag, flow, method="dis", progress=False)
    table = flow_file_fidelity(flow, root)
    assert len(table) == (manifest.subject == "sub01").sum()
    assert table.cosine.median() > 0.5 and table.contrast.median() > 1.5
