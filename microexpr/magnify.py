"""Linear Eulerian Video Magnification (Wu et al. 2012) of a clip.

Each frame is decomposed into a Laplacian pyramid; every band is filtered in time; the filtered bands
are amplified per level and added back to the input frames; the result is clipped to the input's
value range.

Conventions (where this differs from the MIT reference code, on purpose):

* **Ideal filter**: zero-phase, both sides of the spectrum (``rfft`` -> mask ``low_hz <= f <= high_hz``
  -> ``irfft``). A sinusoid inside the band passes with gain 1, so in-band motion comes out multiplied
  by ``1 + alpha``. The MIT code masks one side only, which halves the amplitude.
* **Butterworth**: a band-pass of ``order`` (default 1) with cut-offs in Hz as stated (SciPy's ``fs=``
  convention), run forward and backward (zero phase, so the apex stays where it is). The MIT code
  subtracts two causal first-order low-passes designed with ``fl/fs`` where MATLAB expects ``f/(fs/2)``,
  so its cut-offs act at half the stated frequencies.
* **IIR**: as the reference: ``y1 = r1 x + (1-r1) y1``, ``y2 = r2 x + (1-r2) y2``, band = ``y1 - y2``
  (``r1 > r2``), causal, started from the first frame; ``low_hz``/``high_hz`` are not used.
* **Attenuation (lambda_c)**: as the reference: ``delta = lambda_c / 8 / (1 + alpha)``; the representative
  wavelength of the *coarsest* band (the low-pass residual) is ``lambda = sqrt(h^2 + w^2) / 3`` and halves
  at each finer level; a level's gain is ``min(alpha, (lambda / delta / 8 - 1) * exaggeration)`` with the
  reference's exaggeration factor 2; the finest band and the residual get 0. (Fine bands, whose
  wavelengths are short, are amplified less: that is what keeps ``(1 + alpha) * delta < lambda / 8``.)
* **Pyramid height**: by default as deep as the reference's ``maxPyrHt`` for a 5-tap filter (halve while
  the smaller side stays >= 5 pixels).
* **Colour**: channels are magnified independently (the reference works in YIQ with a chroma
  attenuation); the pipeline magnifies gray frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .settings import setting

FILTERS = ("ideal", "butterworth", "iir")


@dataclass(frozen=True)
class EVMSettings:
    """The ``evm`` section of the configuration, and the only place its settings are written (the
    schema's ``evm`` block is made from these fields: ``microexpr schema``)."""

    alpha: float = setting(8, "amplification; 0 = no magnification", minimum=0)  # the paper's best
    filter: str = setting("ideal", "temporal filter: ideal or butterworth (a band in Hz), iir (r1, r2)",
                          choices=("ideal", "butterworth", "iir"))
    low_hz: float = setting(5.0, "lower edge of the pass band, Hz (ideal, butterworth)", exclusiveMinimum=0)
    high_hz: float = setting(20.0, "upper edge of the pass band, Hz (at most half the frame rate)",
                             exclusiveMinimum=0)
    lambda_c: float = setting(16.0, "spatial cut-off wavelength, px", exclusiveMinimum=0)
    r1: float = setting(0.4, "IIR fast low-pass", exclusiveMinimum=0, maximum=1)
    r2: float = setting(0.05, "IIR slow low-pass", exclusiveMinimum=0, maximum=1)
    levels: int | None = setting(None, "pyramid levels including the residual; null = as deep as the frame size "
                                       "allows", minimum=2)
    pad_frames: int = setting(0, "frames kept either side of onset..offset (temporal filter context)", minimum=0)

    def min_fps(self) -> float | None:
        """The lowest frame rate this band can be filtered at (its upper edge at most half the rate); None
        for the IIR filter, which has no band in Hz."""
        return 2 * self.high_hz if self.filter in ("ideal", "butterworth") else None

    def filter_kwargs(self) -> dict:
        """The keyword arguments of :func:`magnify` (everything but ``pad_frames``)."""
        return {k: v for k, v in asdict(self).items() if k != "pad_frames"}


_D = EVMSettings()
_IDEAL_MATRIX_MAX_FRAMES = 1024  # longer clips: FFT (T^2 work per pixel grows faster than T log T)


def max_levels(height: int, width: int, min_size: int = 5) -> int:
    """Pyramid height (bands including the low-pass residual) like the reference's ``maxPyrHt``."""
    levels, size = 1, min(height, width)
    while size // 2 >= min_size:
        size //= 2
        levels += 1
    return levels


def level_gains(n_levels: int, alpha: float, lambda_c: float, height: int, width: int,
                exaggeration: float = 2.0) -> list[float]:
    """Amplification of each pyramid level, finest first (see the module docstring)."""
    if alpha == 0:
        return [0.0] * n_levels
    delta = lambda_c / 8.0 / (1.0 + alpha)
    lam = math.hypot(height, width) / 3.0  # representative wavelength of the coarsest band
    gains = []
    for level in range(n_levels - 1, -1, -1):  # coarsest to finest
        if level in (0, n_levels - 1):
            gains.append(0.0)
        else:
            gains.append(float(min(alpha, (lam / delta / 8.0 - 1.0) * exaggeration)))
        lam /= 2.0
    return gains[::-1]


def _down(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.pyrDown(img)


def _up(img: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    import cv2

    return cv2.pyrUp(img, dstsize=(shape[1], shape[0])).reshape(shape)


def _weighted_bands(image: np.ndarray, gains: list[float]) -> np.ndarray:
    """Collapse of the Laplacian bands of ``image`` (its level 0 is ``gains[0]``'s level), each band
    multiplied by its gain; levels past the last non-zero gain are never built.

    With ``G`` the Gaussian levels and ``U`` the upsampling, the collapse ``A_l = U(A_{l+1}) +
    g_l (G_l - U(G_{l+1}))`` is computed as ``A_l = g_l G_l + U(A_{l+1} - g_l G_{l+1})``: one
    upsampling per level instead of two (U is linear).
    """
    import cv2

    last = max(i for i, g in enumerate(gains) if g)
    gaussians = [image]
    for _ in range(last + 1):
        gaussians.append(_down(gaussians[-1]))
    acc = None
    for level in range(last, -1, -1):
        g, below = gains[level], gaussians[level + 1]
        if acc is None:
            pre = below * np.float32(-g)
        else:
            pre = cv2.scaleAdd(below, -g, acc) if g else acc
        up = _up(pre, gaussians[level].shape)
        acc = cv2.scaleAdd(gaussians[level], g, up) if g else up
    return acc


def _temporal_filter(x: np.ndarray, fps: float, kind: str, low_hz: float, high_hz: float,
                     r1: float, r2: float, order: int) -> np.ndarray:
    """Band-pass ``x`` (time on axis 0)."""
    n = x.shape[0]
    if kind == "ideal":
        freqs = np.fft.rfftfreq(n, d=1.0 / fps)
        keep = (freqs >= low_hz) & (freqs <= high_hz)
        if n <= _IDEAL_MATRIX_MAX_FRAMES:
            # the mask in the frequency domain is one real T x T matrix in time: a single matrix product
            spectrum = np.fft.rfft(np.eye(n), axis=0)
            spectrum[~keep] = 0
            matrix = np.fft.irfft(spectrum, n=n, axis=0).astype(np.float32)
            flat = np.ascontiguousarray(x, dtype=np.float32).reshape(n, -1)
            return (matrix @ flat).reshape(x.shape)
        from scipy import fft  # only here: importing SciPy costs about 0.4 s a process

        spectrum = fft.rfft(x, axis=0)  # float32 in, complex64 out (NumPy's FFT would work in complex128)
        spectrum[~keep] = 0
        return fft.irfft(spectrum, n=n, axis=0).astype(np.float32, copy=False)
    if kind == "butterworth":
        from scipy.signal import butter, sosfiltfilt

        sos = butter(order, [low_hz, high_hz], btype="bandpass", fs=fps, output="sos")
        padlen = min(3 * (2 * len(sos) + 1), n - 1)
        return sosfiltfilt(sos, x, axis=0, padlen=padlen).astype(np.float32)
    if kind == "iir":
        out = np.empty_like(x)
        y1 = x[0].copy()
        y2 = x[0].copy()
        out[0] = 0
        for t in range(1, n):
            y1 = (1 - r1) * y1 + r1 * x[t]
            y2 = (1 - r2) * y2 + r2 * x[t]
            out[t] = y1 - y2
        return out
    raise ValueError(f"filter must be one of {FILTERS}, got {kind!r}")


def _value_range(frames: np.ndarray) -> tuple[float, float]:
    if frames.dtype == np.uint8:
        return 0.0, 255.0
    if frames.dtype == np.uint16:
        return 0.0, 65535.0
    if np.issubdtype(frames.dtype, np.integer):
        info = np.iinfo(frames.dtype)
        return float(info.min), float(info.max)
    lo, hi = float(np.min(frames)), float(np.max(frames))
    return (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (min(0.0, lo), max(255.0, hi))


def magnify(
    frames: np.ndarray,
    fps: float,
    *,
    alpha: float,
    low_hz: float = _D.low_hz,
    high_hz: float = _D.high_hz,
    filter: str = _D.filter,
    lambda_c: float = _D.lambda_c,
    levels: int | None = _D.levels,
    r1: float = _D.r1,
    r2: float = _D.r2,
    order: int = 1,
    exaggeration: float = 2.0,
) -> np.ndarray:
    """Magnify the motion in ``frames`` (T x H x W or T x H x W x C; uint8, uint16 or float).

    Returns float32 of the same shape on the input's value scale, clipped to its valid range
    (0..255 for uint8; 0..1 for floats within 0..1; otherwise 0..255 or wider if the data are).
    ``alpha`` 0 returns the input unchanged.
    """
    frames = np.asarray(frames)
    deltas, (lo, hi) = _deltas(frames, fps, alpha=alpha, low_hz=low_hz, high_hz=high_hz, filter=filter,
                               lambda_c=lambda_c, levels=levels, r1=r1, r2=r2, order=order,
                               exaggeration=exaggeration)
    out = frames.astype(np.float32, copy=True)
    for i, delta in deltas:
        np.add(out[i], delta, out=out[i])
    return np.clip(out, lo, hi, out=out)


def magnify_uint8(frames: np.ndarray, fps: float, **evm) -> np.ndarray:
    """:func:`magnify` rounded to uint8 0..255 (``evm``: its keyword arguments), one frame at a time: the
    same values as ``clip(rint(magnify(...)), 0, 255)`` without a float32 copy of the whole clip. Besides
    the input and the result, memory holds only the frames at the first amplified pyramid level (a
    quarter of the pixels or fewer, float32) and their band-passed copy."""
    frames = np.asarray(frames)
    deltas, (lo, hi) = _deltas(frames, fps, **evm)
    out = np.empty(frames.shape, np.uint8)
    done = np.zeros(len(frames), bool)
    for i, delta in deltas:
        frame = np.add(frames[i], delta, dtype=np.float32)
        out[i] = np.clip(np.rint(np.clip(frame, lo, hi, out=frame), out=frame), 0, 255, out=frame)
        done[i] = True
    for i in np.flatnonzero(~done):  # nothing amplified: the input, rounded and clipped
        out[i] = np.clip(np.rint(np.clip(frames[i].astype(np.float32), lo, hi)), 0, 255)
    return out


def _deltas(frames: np.ndarray, fps: float, *, alpha: float, low_hz: float = _D.low_hz,
            high_hz: float = _D.high_hz, filter: str = _D.filter, lambda_c: float = _D.lambda_c,
            levels: int | None = _D.levels, r1: float = _D.r1, r2: float = _D.r2, order: int = 1,
            exaggeration: float = 2.0):
    """Check the settings; return (an iterator of (frame index, the amplified motion to add to it),
    the input's value range). The iterator is empty when nothing is amplified."""
    if frames.ndim not in (3, 4):
        raise ValueError(f"frames must be T x H x W or T x H x W x C, got shape {frames.shape}")
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if filter in ("ideal", "butterworth") and not 0 < low_hz < high_hz < fps / 2 + 1e-9:
        raise ValueError(f"need 0 < low_hz < high_hz <= fps/2; got {low_hz}, {high_hz} at {fps} fps")
    if filter == "iir" and not 0 < r2 < r1 <= 1:
        raise ValueError(f"iir needs 0 < r2 < r1 <= 1, got r1={r1}, r2={r2}")
    value_range = _value_range(frames)
    t, h, w = frames.shape[:3]
    if alpha == 0 or t < 2:
        return iter(()), value_range
    n_levels = min(levels, max_levels(h, w)) if levels else max_levels(h, w)
    gains = level_gains(n_levels, alpha, lambda_c, h, w, exaggeration)

    # Every step is linear: the temporal band-pass commutes with the per-frame pyramid operations. So
    # the band-pass runs once, on the frames reduced to the first level with a non-zero gain (the finest
    # band always has gain 0), and the gain-weighted bands of the filtered frames are collapsed back up.
    # Same result as filtering every band on its own, at a fraction of the work and memory.
    amplified = [i for i, g in enumerate(gains) if g]
    if not amplified:
        return iter(()), value_range
    first = amplified[0]
    sizes = [frames.shape[1:]]
    reduced = None
    for i in range(t):
        frame = frames[i].astype(np.float32)
        for _ in range(first):
            frame = _down(frame)
            if len(sizes) <= first:
                sizes.append(frame.shape)
        if reduced is None:
            reduced = np.empty((t,) + frame.shape, np.float32)
        reduced[i] = frame
    filtered = _temporal_filter(reduced, fps, filter, low_hz, high_hz, r1, r2, order)
    del reduced

    def collapse():
        for i, frame in enumerate(filtered):
            delta = _weighted_bands(frame, gains[first:])
            for level in range(first - 1, -1, -1):
                delta = _up(delta, sizes[level])
            yield i, delta

    return collapse(), value_range
