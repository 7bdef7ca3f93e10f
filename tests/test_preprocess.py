"""Pre-processing stages on synthetic clips: ground truth, shard contents, bad frames."""
import h5py
import numpy as np
import pytest

from microexpr.datasets import load_manifest
from microexpr.datasets.synthetic import load_clip_ground_truth
from microexpr.errors import FrameError
from microexpr.preprocess import flow_subject, magnify_subject, read_segment, read_shard, shard_subject

CLASSES = ["disgust", "happiness", "others", "repression", "surprise"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from microexpr.datasets.synthetic import SynthConfig, generate

    root = generate(SynthConfig(format="casme2", subjects=2, clips_per_subject=6, height=120, width=100),
                    tmp_path_factory.mktemp("pp") / "casme2", progress=False)
    return root, load_manifest("casme2", root, "paper5")


@pytest.fixture(scope="module")
def stages(dataset, tmp_path_factory):
    root, manifest = dataset
    out = tmp_path_factory.mktemp("stages")
    mag = magnify_subject(manifest, "sub01", out / "mag.h5", alpha=8, progress=False)
    flow = flow_subject(mag, out / "flow.h5", method="tvl1", progress=False)
    shard = shard_subject(flow, manifest, out / "shard.h5", classes=CLASSES, size=48, progress=False)
    return mag, flow, shard


def _correlations(root, flow_file, subject):
    corr = []
    with h5py.File(flow_file) as h5:
        for clip in sorted(h5):
            g = h5[clip]
            gt = load_clip_ground_truth(root, subject, clip)
            numbers = list(gt["frame_numbers"])
            jitter = gt["jitter"][numbers.index(int(g.attrs["apex"]))] - gt["jitter"][numbers.index(int(g.attrs["onset"]))]
            truth = gt["face_flow"] + jitter
            moving = np.hypot(*gt["face_flow"].transpose(2, 0, 1)) > 0.3
            corr.append(np.corrcoef(g["flow"][()][moving].ravel(), truth[moving].ravel())[0, 1])
    return np.array(corr)


def test_flow_at_apex_follows_the_generators_motion(dataset, stages):
    root, _ = dataset
    corr = _correlations(root, stages[1], "sub01")
    assert np.median(corr) > 0.5, corr
    assert (corr > 0).all(), corr


def test_magnification_makes_the_motion_larger(dataset, stages, tmp_path):
    root, manifest = dataset
    plain = flow_subject(magnify_subject(manifest, "sub01", tmp_path / "m0.h5", alpha=0, progress=False),
                         tmp_path / "f0.h5", progress=False)
    ratios = []
    with h5py.File(plain) as a, h5py.File(stages[1]) as b:
        for clip in a:
            gt = load_clip_ground_truth(root, "sub01", clip)["face_flow"]
            moving = np.hypot(*gt.transpose(2, 0, 1)) > 0.3
            mag = lambda f: np.median(np.hypot(*f[moving].T))  # noqa: E731
            ratios.append(mag(b[clip]["flow"][()]) / mag(a[clip]["flow"][()]))
    assert np.median(ratios) > 2.5, ratios


def test_magnified_file(stages, dataset):
    _, manifest = dataset
    with h5py.File(stages[0]) as h5:
        rows = manifest[manifest.subject == "sub01"]
        assert sorted(h5) == sorted(rows["clip"])
        g = h5[rows["clip"].iloc[0]]
        assert g["frames"].dtype == np.uint8 and g["frames"].shape[0] == rows.n_frames.iloc[0]
        assert h5.attrs["alpha"] == 8 and h5.attrs["filter"] == "ideal"


def test_shard_contents(stages, dataset):
    _, manifest = dataset
    rows = manifest[manifest.subject == "sub01"]
    with h5py.File(stages[2]) as h5:
        n = len(rows) * 10
        assert h5["flow"].shape == (n, 48, 48, 3) and h5["gray"].shape == (n, 48, 48)
        assert h5["masked"].shape == h5["mask"].shape == (n, 48, 48)
        assert list(h5.attrs["classes"]) == CLASSES and h5.attrs["size"] == 48
        assert h5.attrs["alpha"] == 8 and h5.attrs["method"] == "tvl1" and h5.attrs["threshold"] == 50
        masked, gray, mask = h5["masked"][()], h5["gray"][()], h5["mask"][()]
        assert (masked[mask == 0] == 0).all() and (masked[mask > 0] == gray[mask > 0]).all()
    test = read_shard(stages[2])
    assert len(test["label"]) == len(rows) and (test["aug"] == 0).all()
    truth = dict(zip(rows.sample_id, rows.label))
    assert [CLASSES[i] for i in test["label"]] == [truth[s] for s in test["sample_id"]]
    train = read_shard(stages[2], augmented=True)
    assert np.bincount(train["aug"]).tolist() == [len(rows)] * 10
    # the flipped original mirrors the original's gray image
    first = train["sample_id"] == test["sample_id"][0]
    gray = train["gray"][first]
    aug = train["aug"][first]
    np.testing.assert_array_equal(gray[aug == 5], gray[aug == 0][:, :, ::-1])


def test_corrupt_or_missing_frames_fail_naming_the_file(dataset, writable_copy, tmp_path):
    root, _ = dataset
    root = writable_copy(root)
    manifest = load_manifest("casme2", root, "paper5", verify="exists")
    row = manifest[manifest.subject == "sub01"].iloc[0]
    bad = root / "Cropped" / "sub01" / row["clip"] / f"reg_img{row.apex}.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "mag.h5"
    with pytest.raises(FrameError, match=str(bad)):
        magnify_subject(manifest, "sub01", out, alpha=8, progress=False)
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written
    bad.unlink()
    with pytest.raises(FrameError, match="not found.*" + bad.name):
        read_segment(row)


def test_padding_uses_frames_that_exist(dataset):
    _, manifest = dataset
    row = manifest.iloc[0]
    frames, numbers = read_segment(row, pad=3)
    assert numbers[0] == row.onset - 3 and numbers[-1] == row.offset + 3
    frames, numbers = read_segment(row, pad=1000)  # clamps to the clip's first and last frame
    assert len(numbers) == len(frames) and numbers[0] < row.onset


def test_uvs_stream_follows_the_augmentation():
    """A flip negates u (and mirrors every channel); a rotation turns (u, v); zero motion is mid-gray."""
    from microexpr.flow import optical_strain, transform_flow, uvs_image

    y, x = np.mgrid[0:56, 0:56].astype(np.float32)
    flow = np.dstack([0.8 * np.exp(-((x - 20) ** 2 + (y - 30) ** 2) / 60), -0.5 * np.exp(-((x - 36) ** 2 + (y - 18) ** 2) / 40)])
    base = uvs_image(flow, 28).astype(int)
    assert base.shape == (28, 28, 3) and abs(base[0, 0, 0] - 128) <= 1 and abs(base[0, 0, 1] - 128) <= 1
    flipped = uvs_image(transform_flow(flow, flip=True, angle=0.0), 28).astype(int)
    assert np.abs(flipped[:, :, 0] - (255 - base[:, ::-1, 0])).max() <= 1
    assert np.abs(flipped[:, :, 1:] - base[:, ::-1, 1:]).max() <= 1
    rotated = transform_flow(flow, flip=False, angle=10.0)
    assert np.allclose(optical_strain(rotated).max(), optical_strain(flow).max(), rtol=0.1)
    assert np.array_equal(uvs_image(np.zeros((40, 40, 2), np.float32), 28)[..., 2], np.zeros((28, 28), np.uint8))
