"""Optical flow against known motion; flow images, masks and augmentation of flow fields."""
import cv2
import numpy as np
import pytest

from microexpr.flow import (
    AUGMENTATIONS, flow_mask, flow_to_hsv, optical_flow, optical_strain, remove_global_motion, resize_flow,
    transform_flow, transform_image,
)
from microexpr.streams import stream_images

H = W = 160


def periodic_texture(sigma=2.0, seed=0):
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(H)
    spec = np.fft.fft2(rng.standard_normal((H, W))) * np.exp(-2 * np.pi**2 * sigma**2 * (f[:, None] ** 2 + f[None, :] ** 2))
    tex = np.real(np.fft.ifft2(spec))
    return (128 + 35 * tex / tex.std()).astype(np.float32)


def smooth_field():
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    u = 1.5 * np.sin(2 * np.pi * yy / H) * np.cos(2 * np.pi * xx / W) + 0.3
    v = 1.0 * np.cos(2 * np.pi * xx / W)
    return np.stack([u, v], axis=-1).astype(np.float32)


def warp_forward(img, field):
    """next such that next(x + d(x)) = img(x): invert the field by fixed-point iteration."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    inv = field.copy()
    for _ in range(30):
        inv = cv2.remap(field, xx - inv[..., 0], yy - inv[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    return cv2.remap(img, xx - inv[..., 0], yy - inv[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)


def epe(a, b, margin=16):
    s = np.s_[margin:-margin, margin:-margin]
    return float(np.hypot(*(a - b)[s].transpose(2, 0, 1)).mean())


@pytest.fixture(scope="module")
def pair():
    prev = periodic_texture()
    field = smooth_field()
    return prev, warp_forward(prev, field), field


def test_tvl1_recovers_a_known_smooth_field(pair):
    prev, nxt, field = pair
    assert epe(optical_flow(prev, nxt, "tvl1"), field) < 0.1
    u8 = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    assert epe(optical_flow(u8(prev), u8(nxt), "tvl1"), field) < 0.1


def test_flow_at_a_working_height_is_in_the_frames_pixels(pair):
    """max_height: computed on frames halved, the field comes back at the frames' size with its vectors
    doubled (a smooth field is recovered about as well); frames no taller than it are left alone."""
    from microexpr.flow import make_flow_estimator

    prev, nxt, field = pair
    half = make_flow_estimator("tvl1", max_height=H // 2)(prev, nxt)
    assert half.shape == field.shape and epe(half, field) < 0.2
    assert epe(half * 0.5, field) > 0.4  # the vectors were scaled back, not left at the working size
    full = make_flow_estimator("tvl1")(prev, nxt)
    assert np.array_equal(make_flow_estimator("tvl1", max_height=H)(prev, nxt), full)
    with pytest.raises(ValueError, match="max_height must be at least 8"):
        make_flow_estimator("tvl1", max_height=4)
    # min_height: small frames enlarged for the flow, the field back at their size in their pixels
    small = [cv2.resize(x, (W // 2, H // 2), interpolation=cv2.INTER_AREA) for x in (prev, nxt)]
    enlarged = make_flow_estimator("tvl1", min_height=H)(*small)
    assert enlarged.shape == (H // 2, W // 2, 2)
    assert epe(enlarged, resize_flow(field, (H // 2, W // 2)), margin=8) < 0.2
    assert np.array_equal(make_flow_estimator("tvl1", min_height=H // 2)(*small), make_flow_estimator("tvl1")(*small))


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_other_methods(pair, method):
    prev, nxt, field = pair
    assert epe(optical_flow(prev, nxt, method), field) < 0.25


def test_convention_next_at_x_plus_u_matches_prev(pair):
    prev, _, _ = pair
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    nxt = cv2.remap(prev, xx - 1.0, yy + 0.5, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)  # moved +1 x, -0.5 y
    flow = optical_flow(prev, nxt)
    u, v = np.median(flow[20:-20, 20:-20].reshape(-1, 2), axis=0)
    assert u == pytest.approx(1.0, abs=0.05) and v == pytest.approx(-0.5, abs=0.05)


def test_bad_inputs():
    with pytest.raises(ValueError, match="sizes differ"):
        optical_flow(np.zeros((10, 10)), np.zeros((12, 10)))
    with pytest.raises(ValueError, match="flow method"):
        optical_flow(np.zeros((10, 10)), np.zeros((10, 10)), method="horn")
    with pytest.raises(ValueError, match="unknown tvl1 parameter"):
        optical_flow(np.zeros((10, 10)), np.zeros((10, 10)), lamda=0.1)


def test_strain_of_a_uniform_stretch():
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    flow = np.stack([0.1 * xx, np.zeros_like(xx)], -1)  # ux = 0.1
    assert np.allclose(optical_strain(flow), 0.1, atol=1e-6)
    shear = np.stack([0.2 * yy, np.zeros_like(yy)], -1)  # uy = 0.2 -> sqrt(0.5 * 0.04)
    assert np.allclose(optical_strain(shear), np.sqrt(0.02), atol=1e-6)


def test_flow_image_and_mask():
    flow = np.zeros((40, 40, 2), np.float32)
    flow[10:20, 10:20] = (2.0, 0.0)     # right: hue 0
    flow[25:35, 25:35] = (0.0, 0.6)     # down (+y): hue 45 (90 degrees / 2), 30 % of the maximum
    hsv = flow_to_hsv(flow)
    assert hsv[15, 15, 2] == 255 and hsv[15, 15, 0] == 0
    assert hsv[30, 30, 0] == 45 and hsv[30, 30, 2] == round(0.3 * 255)
    assert hsv[0, 0, 2] == 0
    mask = flow_mask(hsv, 50)
    assert set(np.unique(mask)) == {0, 255}
    assert mask[15, 15] == mask[30, 30] == 255 and mask.sum() == 255 * 200
    assert flow_mask(hsv, 100)[30, 30] == 0  # 30 % of max is below 100/255


def test_static_pair_gives_empty_mask(pair):
    prev, _, _ = pair
    flow = optical_flow(prev, prev)
    s = stream_images(flow, prev)
    assert s.mask.max() == 0 and s.masked.max() == 0 and s.flow.max() == 0


def test_flip_negates_u():
    flow = np.zeros((20, 30, 2), np.float32)
    flow[5:8, 2:6] = (1.5, -0.5)
    out = transform_flow(flow, flip=True, angle=0)
    assert np.allclose(out[5:8, 24:28], (-1.5, -0.5))
    assert np.abs(out).sum() == pytest.approx(np.abs(flow).sum())


def test_augmenting_flow_equals_flow_of_augmented_images(pair):
    """Flipping/rotating the flow field must give what optical flow finds on flipped/rotated images."""
    prev, nxt, field = pair
    for flip, angle in [(True, 0.0), (False, 10.0), (True, -5.0)]:
        expected = transform_flow(field, flip=flip, angle=angle)
        measured = optical_flow(transform_image(prev, flip=flip, angle=angle),
                                transform_image(nxt, flip=flip, angle=angle))
        assert epe(measured, expected, margin=40) < 0.15, (flip, angle)


def test_ten_augmentations_with_the_original_first():
    assert len(AUGMENTATIONS) == 10 and AUGMENTATIONS[0] == (False, 0.0)
    assert sorted({a for _, a in AUGMENTATIONS}) == [-10.0, -5.0, 0.0, 5.0, 10.0]


def test_resize_scales_vectors():
    flow = np.ones((40, 80, 2), np.float32)
    out = resize_flow(flow, (20, 20))
    assert out.shape == (20, 20, 2)
    assert np.allclose(out[..., 0], 0.25) and np.allclose(out[..., 1], 0.5)


def test_global_motion_removal_keeps_local_motion():
    flow = np.full((64, 64, 2), (1.2, -0.8), np.float32)   # head translation
    flow[20:30, 20:30] += (3.0, 0.0)                        # local movement
    hsv = flow_to_hsv(remove_global_motion(flow, "median"))
    mask = flow_mask(hsv) > 0
    assert mask[20:30, 20:30].all() and mask.sum() == 100
    assert flow_mask(flow_to_hsv(flow)).all()  # without removal everything looks like motion


def test_the_colour_key_shows_each_direction_with_its_hue():
    """The key is the flow image of a field pointing away from its centre: right is red (hue 0), down
    (y grows: clockwise on screen) is hue 45 of 180, and the centre is dark."""
    import cv2

    from microexpr.flow import colour_key

    key = colour_key(97)
    hsv = cv2.cvtColor(key, cv2.COLOR_BGR2HSV)
    right, down, centre = hsv[48, 90], hsv[90, 48], hsv[48, 48]
    assert right[0] in (0, 179) and abs(int(down[0]) - 45) <= 1
    assert right[2] > 200 and down[2] > 200 and centre[2] < 10 and key[0, 0].max() == 0  # outside: black


# ----------------------------------------------------------------------------- the flow registry
def test_the_schema_and_config_name_the_registered_flow_methods_and_their_defaults():
    import yaml

    from microexpr.config import SCHEMA_PATH
    from microexpr.flow import FLOW_METHODS, flow_methods

    flow = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["flow"]["properties"]
    assert flow["method"]["enum"] == list(flow_methods()) and flow["method"]["default"] == "tvl1"
    shipped = yaml.safe_load((SCHEMA_PATH.parents[2] / "config" / "config.yaml").read_text())["flow"]
    for name, spec in FLOW_METHODS.items():
        params = flow[name]["properties"]
        assert {k: v["default"] for k, v in params.items()} == spec.defaults, name
        assert all(spec.defaults[k] == v for k, v in shipped.get(name, {}).items()), name  # the config repeats them


@pytest.fixture
def toy_flow():
    """A flow method registered by a test, as a user's module would: a uniform shift of one pixel."""
    from microexpr import flow

    @flow.register_flow("toy_shift", defaults={"u": 1.0})
    def build(u):
        return lambda a, b: np.dstack([np.full(np.shape(a)[:2], u, np.float32), np.zeros(np.shape(a)[:2], np.float32)])

    yield "toy_shift"
    del flow.FLOW_METHODS["toy_shift"]


def test_a_registered_flow_method_reaches_the_flow_stage_and_predict(toy_flow, tmp_path):
    import h5py

    from microexpr.flow import make_flow_estimator, register_flow
    from microexpr.predict import Clip, clip_inputs
    from microexpr.preprocess import flow_subject

    frames = np.stack([periodic_texture(seed=i)[:64, :48].astype(np.uint8) for i in range(12)])
    assert make_flow_estimator(toy_flow, u=2.5)(frames[0], frames[1])[..., 0].mean() == 2.5
    with pytest.raises(ValueError, match=r"unknown toy_shift parameter\(s\) \['v'\]"):
        make_flow_estimator(toy_flow, v=1)
    with pytest.raises(ValueError, match="registered twice"):
        register_flow(toy_flow, defaults={})(lambda: None)
    magnified = tmp_path / "sub01.h5"
    with h5py.File(magnified, "w") as h5:
        h5.attrs["subject"] = "sub01"
        g = h5.create_group("EP01")
        g["frames"], g["frame_numbers"] = frames, np.arange(1, 13)
        g.attrs.update({"onset": 1, "apex": 6, "sample_id": "casme2/sub01/EP01"})
    out = flow_subject(magnified, tmp_path / "flow.h5", method=toy_flow, params={"u": 1.5}, progress=False)
    with h5py.File(out, "r") as h5:
        assert h5.attrs["method"] == toy_flow and np.allclose(h5["EP01/flow"][..., 0], 1.5)
    settings = {"evm": {"alpha": 0}, "images": {"size": 32, "augment": False},
                "flow": {"method": toy_flow, toy_flow: {"u": 0.5}}}
    got = clip_inputs(Clip("toy", frames, list(range(1, 13)), 200.0), settings, onset=1, apex=6, offset=12)
    assert np.allclose(got["flow"][..., 0], 0.5) and got["streams"].flow.shape == (32, 32, 3)
