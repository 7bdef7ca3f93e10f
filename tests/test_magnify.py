"""EVM against ground truth: in-band motion x (1 + alpha), out-of-band untouched, static unchanged."""
import numpy as np
import pytest

from microexpr.magnify import level_gains, magnify, max_levels

FPS = 200.0
T = 200


def texture_spectrum(size, sigma, seed=0):
    """A periodic smooth texture: white noise low-passed by a Gaussian of ``sigma`` px."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size)
    spectrum = np.fft.fft2(rng.standard_normal((size, size)))
    return spectrum * np.exp(-2 * np.pi**2 * sigma**2 * (f[:, None] ** 2 + f[None, :] ** 2))


def translated_clip(spectrum, shifts):
    """Frames of the texture moved by ``shifts`` px along x (exact Fourier shift: no interpolation
    blur that changes with the sub-pixel phase)."""
    fx = np.fft.fftfreq(spectrum.shape[1])[None, :]
    frames = np.stack([np.real(np.fft.ifft2(spectrum * np.exp(-2j * np.pi * fx * d))) for d in shifts])
    return (128 + 30 * frames / frames[0].std()).astype(np.float32)


def displacement(frames):
    """Per-frame x displacement relative to the mean frame (least squares on the gradient)."""
    ref = frames.mean(axis=0)
    gx = np.gradient(ref, axis=1)[24:-24, 24:-24]
    return np.array([-((f - ref)[24:-24, 24:-24] * gx).sum() / (gx**2).sum() for f in frames])


def gain_at(freq, sigma=6.0, size=256, filter="ideal", **kw):
    t = np.arange(T) / FPS
    wave = np.sin(2 * np.pi * freq * t)
    clip = translated_clip(texture_spectrum(size, sigma), 0.1 * wave)
    out = magnify(clip, FPS, alpha=8, low_hz=5, high_hz=20, lambda_c=16, filter=filter, **kw)
    return (displacement(out) @ wave) / (displacement(clip) @ wave), np.abs(out - clip).max()


@pytest.mark.parametrize("freq", [10.0, 15.0])
def test_in_band_motion_is_multiplied_by_one_plus_alpha(freq):
    gain, _ = gain_at(freq)
    assert gain == pytest.approx(9.0, rel=0.15)


@pytest.mark.parametrize("freq", [1.0, 2.0, 40.0, 60.0])
def test_out_of_band_motion_is_not_amplified(freq):
    gain, diff = gain_at(freq)
    assert gain <= 1.1
    assert diff < 1.0  # the ideal filter leaves such a clip as it was


def test_static_clip_is_unchanged():
    clip = np.repeat(translated_clip(texture_spectrum(96, 3), [0.0]), 40, axis=0)
    for kind in ("ideal", "butterworth", "iir"):
        out = magnify(clip, FPS, alpha=8, filter=kind)
        assert np.abs(out - clip).max() < 1.0, kind


def test_butterworth_and_iir_amplify_in_band_more_than_out_of_band():
    for kind in ("butterworth", "iir"):
        inside, _ = gain_at(10.0, filter=kind, size=128)
        outside, _ = gain_at(90.0, filter=kind, size=128)
        assert inside > 4.0 and inside > 1.5 * outside, kind


def test_attenuation_schedule():
    gains = level_gains(max_levels(256, 256), alpha=8, lambda_c=16, height=256, width=256)
    assert gains[0] == 0 and gains[-1] == 0          # finest band and residual are not amplified
    assert gains[1:-1] == sorted(gains[1:-1])         # finer bands (shorter wavelengths) get less
    assert max(gains) == 8 and gains[1] < 8
    # a larger lambda_c lowers the gain of the finer bands
    assert level_gains(6, 8, 64, 256, 256)[1] < gains[1]
    assert level_gains(6, 0, 16, 256, 256) == [0.0] * 6


def test_shapes_dtypes_and_range():
    rng = np.random.default_rng(1)
    gray8 = rng.integers(0, 256, (30, 40, 36), dtype=np.uint8)
    out = magnify(gray8, FPS, alpha=20)
    assert out.shape == gray8.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    colour = rng.random((30, 40, 36, 3), dtype=np.float32)
    out = magnify(colour, FPS, alpha=20)
    assert out.shape == colour.shape and out.min() >= 0 and out.max() <= 1.0
    np.testing.assert_array_equal(magnify(gray8, FPS, alpha=0), gray8.astype(np.float32))


def per_band_reference(frames, fps, *, alpha, filter, low_hz=5.0, high_hz=20.0, lambda_c=16.0, r1=0.4, r2=0.05):
    """EVM as written in the paper and the earlier microexpr code: each frame's full Laplacian pyramid,
    every band filtered in time on its own (NumPy's double-precision FFT for the ideal filter), scaled by
    its gain, collapsed and added back. The fast implementation must give the same frames."""
    import cv2
    from scipy.signal import butter, sosfiltfilt

    frames = frames.astype(np.float64)
    t, h, w = frames.shape[:3]
    n = max_levels(h, w)
    gains = level_gains(n, alpha, lambda_c, h, w)
    pyramids = []
    for f in frames:
        bands, cur = [], f
        for _ in range(n - 1):
            down = cv2.pyrDown(cur)
            bands.append(cur - cv2.pyrUp(down, dstsize=(cur.shape[1], cur.shape[0])).reshape(cur.shape))
            cur = down.reshape(down.shape[0], down.shape[1], *cur.shape[2:])
        pyramids.append(bands + [cur])
    filtered = []
    for level, gain in enumerate(gains):
        x = np.stack([p[level] for p in pyramids])
        if filter == "ideal":
            spec = np.fft.rfft(x, axis=0)
            freqs = np.fft.rfftfreq(t, 1 / fps)
            spec[(freqs < low_hz) | (freqs > high_hz)] = 0
            y = np.fft.irfft(spec, n=t, axis=0)
        elif filter == "butterworth":
            sos = butter(1, [low_hz, high_hz], btype="bandpass", fs=fps, output="sos")
            y = sosfiltfilt(sos, x, axis=0, padlen=min(9, t - 1))
        else:
            y, y1, y2 = np.zeros_like(x), x[0].copy(), x[0].copy()
            for k in range(1, t):
                y1, y2 = (1 - r1) * y1 + r1 * x[k], (1 - r2) * y2 + r2 * x[k]
                y[k] = y1 - y2
        filtered.append(gain * y)
    out = []
    for i, f in enumerate(frames):
        acc = filtered[-1][i]
        for level in range(n - 2, -1, -1):
            shape = filtered[level][i].shape
            acc = cv2.pyrUp(acc, dstsize=(shape[1], shape[0])).reshape(shape) + filtered[level][i]
        out.append(f + acc)
    return np.clip(np.stack(out), 0, 255)


@pytest.mark.parametrize("filter", ["ideal", "butterworth", "iir"])
@pytest.mark.parametrize("colour", [False, True])
def test_fast_evm_equals_the_per_band_reference(filter, colour):
    """The fast path (one temporal filter on the first amplified level, linear collapse) gives the
    frames of the textbook per-band computation to within 0.01 gray level."""
    rng = np.random.default_rng(7)
    t = np.arange(48) / FPS
    clip = translated_clip(texture_spectrum(72, 3), 0.3 * np.sin(2 * np.pi * 12 * t))[:, :60, :]  # 72 x 60
    clip = np.clip(clip + rng.normal(0, 2, clip.shape), 0, 255).astype(np.uint8)
    if colour:
        clip = np.stack([clip, np.roll(clip, 3, axis=2), 255 - clip], axis=3)
    fast = magnify(clip, FPS, alpha=10, filter=filter)
    reference = per_band_reference(clip, FPS, alpha=10, filter=filter)
    assert np.abs(fast - clip).max() > 2  # it did amplify
    assert np.abs(fast - reference).max() < 0.01


def test_long_clips_take_the_fft_path(monkeypatch):
    """Clips longer than the matrix form is worth filter through the FFT; same frames."""
    import microexpr.magnify as m

    t = np.arange(120) / FPS
    clip = translated_clip(texture_spectrum(64, 4), 0.1 * np.sin(2 * np.pi * 10 * t) * (t > 0.3))
    whole = magnify(clip, FPS, alpha=8)
    monkeypatch.setattr(m, "_IDEAL_MATRIX_MAX_FRAMES", 32)
    np.testing.assert_allclose(magnify(clip, FPS, alpha=8), whole, atol=1e-3)
    assert np.abs(whole - clip).max() > 1  # it did amplify


@pytest.mark.parametrize("kw,match", [
    (dict(low_hz=20, high_hz=5), "low_hz < high_hz"),
    (dict(high_hz=150), "fps/2"),
    (dict(filter="median"), "filter must be"),
    (dict(filter="iir", r1=0.05, r2=0.4), "r2 < r1"),
    (dict(alpha=-1), "alpha"),
])
def test_bad_parameters(kw, match):
    args = dict(alpha=8, low_hz=5, high_hz=20)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        magnify(np.zeros((10, 32, 32), np.uint8), FPS, **args)


@pytest.mark.parametrize("kw", [dict(alpha=8), dict(alpha=20, filter="butterworth"), dict(alpha=8, filter="iir"),
                                dict(alpha=0), dict(alpha=8, levels=1)])
@pytest.mark.parametrize("shape", [(30, 64, 56), (12, 40, 48, 3)])
def test_the_uint8_magnification_equals_the_rounded_float_one(kw, shape):
    """What the pipeline stores (magnify_uint8: one frame at a time, no float copy of the clip) is the
    float result rounded and clipped, to the bit; levels=1 amplifies nothing (only the residual is left)."""
    from microexpr.magnify import magnify_uint8

    frames = (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)
    want = np.clip(np.rint(magnify(frames, 200.0, **kw)), 0, 255).astype(np.uint8)
    got = magnify_uint8(frames, 200.0, **kw)
    assert got.dtype == np.uint8 and np.array_equal(got, want)
    assert kw["alpha"] == 0 or "levels" in kw or not np.array_equal(got, frames)  # it did magnify
