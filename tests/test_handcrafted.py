"""Hand-crafted baselines: each extractor on a block whose histogram is known, and the SVM's C chosen
without the held-out subject."""
import json

import h5py
import numpy as np
import pytest

from microexpr import handcrafted as hc
from microexpr import svm

ALL_ONES = 255  # the code of a neighbourhood where every neighbour is >= the centre (a flat patch)


def test_uniform_mapping_has_the_u2_bin_count():
    table = hc.uniform_table(8)
    assert table.max() + 1 == 59  # 58 uniform patterns + one bin for the rest
    uniform = [c for c in range(256) if bin(c ^ (((c << 1) | (c >> 7)) & 255)).count("1") <= 2]
    assert len(uniform) == 58 and len(set(table[uniform])) == 58
    assert table[0b01010101] == 58  # 8 transitions: not uniform


def test_lbp_top_length_matches_its_definition():
    block = np.random.default_rng(0).integers(0, 255, (12, 40, 48)).astype(np.uint8)
    for points, grid in ((8, (2, 3)), (4, (1, 1))):
        x = hc.lbp_top(block, points=points, grid=grid)
        assert x.shape == (grid[0] * grid[1] * 3 * (points * (points - 1) + 3),)
        # every block and plane is one normalised histogram
        np.testing.assert_allclose(x.reshape(grid[0] * grid[1] * 3, -1).sum(1), 1.0, rtol=1e-6)


def test_lbp_top_of_a_constant_block_is_one_bin_per_plane():
    table = hc.uniform_table(8)
    h = hc.lbp_top(np.full((7, 30, 30), 90, np.uint8), grid=(2, 2)).reshape(4, 3, 59)
    assert (h[..., table[ALL_ONES]] == 1).all()


def test_lbp_top_of_a_moving_edge():
    """A horizontal ramp: in XY and XT the neighbours at dx >= 0 are >= the centre (bits of angles
    -90..90 degrees: 0, 1, 2, 6, 7), in YT every neighbour is equal (all ones). An edge moving right over
    time changes only the XT and YT codes."""
    table = hc.uniform_table(8)
    ramp = np.tile((np.arange(48) * 3).astype(np.uint8)[None, None, :], (10, 20, 1))
    h = hc.lbp_top(ramp, grid=(1, 1)).reshape(3, 59)
    expected = 0b11000111
    assert h[0, table[expected]] == 1 and h[1, table[expected]] == 1 and h[2, table[ALL_ONES]] == 1
    # a bright edge moving right by one pixel a frame: at the edge, the future is brighter on the left
    moving = np.zeros((10, 20, 40), np.uint8)
    for t in range(10):
        moving[t, :, :10 + t] = 200
    xy, xt, yt = hc.lbp_top(moving, grid=(1, 1), frames=None).reshape(3, 59)
    still = np.repeat(moving[:1], 10, axis=0)
    sxy, sxt, syt = hc.lbp_top(still, grid=(1, 1), frames=None).reshape(3, 59)
    assert sxt[table[ALL_ONES]] > xt[table[ALL_ONES]]  # motion makes other XT codes
    assert syt[table[ALL_ONES]] == 1 and yt[table[ALL_ONES]] < 1


def test_lbp_sip_of_a_constant_block_and_of_a_ramp():
    h = hc.lbp_sip(np.full((5, 20, 20), 7, np.uint8), grid=(1, 1))
    assert h.shape == (20,) and h[15] == 1 and h[16 + 3] == 1  # all four and both neighbours >= centre
    ramp = np.tile(np.arange(20, dtype=np.uint8)[None, None, :] * 5, (5, 20, 1))
    h = hc.lbp_sip(ramp, grid=(1, 1))
    assert h[0b1011] == 1  # right, up and down >= centre, left below it


def test_hoof_bins_direction_mirror_symmetrically_weighted_by_magnitude():
    flow = np.zeros((16, 16, 2), np.float32)
    flow[..., 0] = 2.0  # rightwards
    right = hc.hoof(None, flow, bins=8, grid=(1, 1), global_motion="none")
    left = hc.hoof(None, -flow, bins=8, grid=(1, 1), global_motion="none")
    assert right[4] == 1 and (left == right).all()  # horizontal: the bin starting at angle 0
    up = np.zeros_like(flow)
    up[..., 1] = -1.0  # image y grows downwards: -1 is up
    assert hc.hoof(None, up, bins=8, grid=(1, 1), global_motion="none")[0] == 1
    mixed = flow.copy()
    mixed[:, 8:] = up[:, 8:] * 3  # half the pixels move right by 2, half up by 3: weights 2 : 3
    h = hc.hoof(None, mixed, bins=8, grid=(1, 1), global_motion="none")
    np.testing.assert_allclose(h[[0, 4]], [0.6, 0.4], rtol=1e-6)
    # per block; a still block gets zeros, and a shared translation is removed by the median
    two = np.zeros((16, 16, 2), np.float32)
    two[:, :8, 0] = 1.0
    h = hc.hoof(None, two, bins=8, grid=(1, 2), global_motion="none").reshape(2, 8)
    assert h[0, 4] == 1 and (h[1] == 0).all()
    assert (hc.hoof(None, flow, grid=(1, 1)) == 0).all()  # the whole face moved: head motion, no expression


def test_settings_are_typed_and_named():
    from microexpr.errors import MicroexprError

    assert hc.method_settings("lbptop", {"lbptop": {"grid": [4, 4]}})["grid"] == [4, 4]
    with pytest.raises(MicroexprError, match="features.lbptop"):
        hc.method_settings("lbptop", {"lbptop": {"radius": 3}})
    with pytest.raises(MicroexprError, match="too small"):
        hc.lbp_top(np.zeros((10, 5, 5), np.uint8))


def _features_file(path, subject, x, y, classes=("a", "b")):
    with h5py.File(path, "w") as h5:
        h5.create_dataset("features", data=np.asarray(x, np.float32))
        h5.create_dataset("label", data=np.asarray(y, np.int64))
        h5.create_dataset("sample_id", data=np.array([f"d/{subject}/{i}" for i in range(len(y))], dtype=object),
                          dtype=h5py.string_dtype())
        h5.attrs.update({"stage": "features", "subject": subject, "method": "hoof", "settings": "{}",
                         "classes": list(classes)})
    return path


def test_svm_fold_chooses_c_on_training_subjects_only(tmp_path, monkeypatch):
    """The held-out subject's features never reach the choice of C: replacing them by noise of another
    scale leaves C (and the inner records) unchanged; its labels are not even read before scoring."""
    from microexpr.training import TrainConfig, train_fold

    rng = np.random.default_rng(0)
    files = []
    for s in range(6):
        y = np.array([0, 1] * 5)
        x = rng.normal(0, 1, (10, 6)) + y[:, None] * 1.5
        files.append(_features_file(tmp_path / f"s{s}.h5", f"s{s}", x, y))
    test = _features_file(tmp_path / "t.h5", "t", rng.normal(0, 1, (4, 6)) + np.array([0, 1, 0, 1])[:, None] * 1.5,
                          [0, 1, 0, 1])
    noise = _features_file(tmp_path / "n.h5", "t", rng.normal(0, 50, (4, 6)), [1, 1, 1, 1])
    cfg = TrainConfig(model="hoof", svm_c=(0.001, 0.1, 10.0), svm_folds=3)
    a = train_fold(files, [test], tmp_path / "a", cfg)
    b = train_fold(files, [noise], tmp_path / "b", cfg)
    assert a["selection"]["c"] == b["selection"]["c"] and a["selection"]["inner"] == b["selection"]["inner"]
    assert [r["c"] for r in a["selection"]["inner"]] == [0.001, 0.1, 10.0]
    assert a["accuracy"] >= 0.75  # separable classes: the fitted SVM works
    assert a["train_subjects"] == [f"s{s}" for s in range(6)] and a["test_subjects"] == ["t"]
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert saved["best_epoch"] is None and "inner cross-validation" in saved["selection"]["rule"]
    with pytest.raises(Exception, match="among the training"):
        train_fold(files, [files[0]], tmp_path / "c", cfg)


def test_choose_c_groups_are_subject_disjoint():
    rng = np.random.default_rng(1)
    subjects = np.repeat(np.array(["a", "b", "c", "d"], dtype=object), 5)
    y = np.tile([0, 1, 2, 0, 1], 4)
    x = rng.normal(0, 1, (20, 3)) + y[:, None]
    seen = []
    real_fit = svm._fit_arrays

    def spy(xx, yy, c, seed, n):
        seen.append({tuple(r) for r in np.round(xx, 6)})
        return real_fit(xx, yy, c, seed, n)

    svm._fit_arrays, old = spy, svm._fit_arrays
    try:
        c, records = svm.choose_c(x, y, subjects, [1.0, 2.0], 2, 0, 3)
    finally:
        svm._fit_arrays = old
    rows_of = {s: {tuple(r) for r in np.round(x[subjects == s], 6)} for s in "abcd"}
    for fitted in seen:  # each inner fit holds whole subjects only
        assert all(rows_of[s] <= fitted or not (rows_of[s] & fitted) for s in "abcd")
    assert len(records) == 2 and records[0]["inner_folds"] == 2 and c in (1.0, 2.0)


def test_a_saved_svm_is_plain_tensors_and_scores_like_the_fit(tmp_path):
    import torch

    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], 10)
    x = rng.normal(0, 1, (30, 4)) + np.eye(3, 4)[y] * 3
    pipe = svm._fit(x, y, 1.0, 0)
    arrays = svm.to_arrays(pipe, 4)  # class 3 never seen: it never wins
    torch.save(svm.tensors(arrays), tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=True)
    s = svm.scores_from_arrays(loaded, x)
    assert (s.argmax(1) == pipe.predict(x)).all() and (s[:, 3] == 0).all()
    np.testing.assert_allclose(s.sum(1), 1.0)
    binary = svm.to_arrays(svm._fit(x[:20], y[:20], 1.0, 0), 3)
    assert (svm.scores_from_arrays(binary, x[:20]).argmax(1) == svm._fit(x[:20], y[:20], 1.0, 0).predict(x[:20])).all()
