"""Spotting in long videos: where micro- and macro-expressions start, peak and end in a recording of a face.

The method is the feature-difference (FD) analysis of Moilanen, Zhao and Pietikainen (ICPR 2014), the
MEGC spotting baseline (Li et al., FG 2018; MEGC 2019/2020), on aligned intensities instead of LBP
histograms:

1. every frame, reduced to a working height (``height``; a Gaussian pyramid, so without aliasing), is
   aligned to the video's first frame (phase correlation, refined by Gauss-Newton steps: head translation
   removed); a border and the rows of ``eye_band`` (fractions of the face height) are cut off, as blinks
   are not expressions;
2. for each frame t the current frame is compared with the mean of the frames k before and k after it
   (the tail and head frames): per block of a ``grid`` x ``grid`` split, the mean squared difference; the
   frame's difference D(t) is the mean of its largest ``top_blocks`` share of blocks (Moilanen et al.
   average the largest third; an expression moves a few blocks);
3. the contrast C(t) = D(t) - (D(t-k) + D(t+k)) / 2 keeps what rises and falls within 2k frames;
4. peaks of C above ``threshold`` standard deviations of its noise are spotted. The noise is measured on
   the video itself, from D's frame-to-frame changes (the baseline's ``mean + p (max - mean)`` always spots
   something, also in a video without expressions). An interval is where the square root of C (which grows
   with the motion) stays above ``edge`` x its peak value, each side then stretched ``widen`` times about
   the peak: at half the peak, twice, as the half-maximum points of a rise and fall shaped like a raised
   cosine or a triangle lie half-way between the peak and the onset or offset (the baseline instead gives
   every spot one length, k frames either side of the peak).

It runs at two scales: k = ``micro_window_s`` (at least the longest micro-expression, 0.5 s) and
k = ``macro_window_s``. A spot of the micro scale at most ``max_micro_s`` long is a micro-expression unless
it lies on or next to a macro-expression; spots longer than that at the macro scale are macro-expressions.
A video's first and last k frames have no frames k before or after them: they are taken as still.

What it cannot see: motion inside the eye band (an expression of the eyelids alone looks like a blink to
it), head rotation (only translation is removed) and expressions closer together than about 2k.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class LongSpotSettings:
    height: int = 64                 # working height of the face, px
    grid: int = 8                    # blocks per side
    top_blocks: float = 0.1          # share of the largest block differences averaged (Moilanen et al.: 1/3)
    eye_band: tuple[float, float] = (0.35, 0.5)  # face-height fractions left out (the eyes; blinks)
    micro_window_s: float = 0.5      # k at the micro scale, s
    macro_window_s: float = 1.0      # k at the macro scale, s
    max_micro_s: float = 0.6         # spots up to this long are micro (0.5 s defines one; estimates scatter)
    threshold: float = 6.0           # peaks above median + threshold robust std of the contrast
    edge: float = 0.5                # an interval is found where the contrast is above edge x its peak ...
    widen: float = 2.0               # ... and its sides are then stretched this much about the peak

    def __post_init__(self):
        problems = []
        if not isinstance(self.height, int) or self.height < 16:
            problems.append(f"height must be an integer >= 16, got {self.height!r}")
        if not isinstance(self.grid, int) or self.grid < 1:
            problems.append(f"grid must be a positive integer, got {self.grid!r}")
        if not 0 < self.top_blocks <= 1:
            problems.append(f"top_blocks must be in (0, 1], got {self.top_blocks!r}")
        lo, hi = self.eye_band
        if not 0 <= lo <= hi <= 1:
            problems.append(f"eye_band must be two fractions 0 <= low <= high <= 1, got {self.eye_band!r}")
        for name in ("micro_window_s", "macro_window_s", "max_micro_s", "threshold"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0 < self.edge < 1:
            problems.append(f"edge must be in (0, 1), got {self.edge!r}")
        if not self.widen >= 1:
            problems.append(f"widen must be >= 1, got {self.widen!r}")
        if problems:
            raise ValueError("spotting settings: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict | None) -> "LongSpotSettings":
        values = dict(values or {})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"spotting settings: unknown key(s) {sorted(unknown)}")
        if "eye_band" in values:
            values["eye_band"] = tuple(values["eye_band"])
        return cls(**values)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eye_band"] = list(d["eye_band"])
        return d


def reduce(frame: np.ndarray, height: int) -> np.ndarray:
    """Halve (Gaussian pyramid: smoothed, so without aliasing) while at least twice ``height`` tall. Without
    it, a sub-pixel head shift aliases into the working image as an intensity change."""
    import cv2

    while frame.shape[0] >= 2 * height:
        frame = cv2.pyrDown(frame)
    return frame


class Aligner:
    """Frames -> working-size float32 images aligned to the first one: phase correlation for the shift,
    refined by Gauss-Newton steps on the intensities (phase correlation's sub-pixel estimate is coarse, and
    a tenth of a pixel of misregistration shows up as much as a micro-expression does)."""

    def __init__(self, height: int, steps: int = 3, ignore: tuple[float, float] = (0.375, 0.5)):
        self.height, self.steps, self.ignore = height, steps, ignore
        self.reference = None
        self.size = None

    def _setup(self, small: np.ndarray) -> None:
        import cv2

        self.reference = small
        self.window = cv2.createHanningWindow(self.size, cv2.CV_32F)
        gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3) / 8
        gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3) / 8
        m = max(2, self.height // 16)  # the border, where warps reflect, takes no part
        inner = np.zeros_like(small, bool)
        inner[m:-m, m:-m] = True
        inner[int(self.ignore[0] * self.height):int(np.ceil(self.ignore[1] * self.height))] = False  # blinks
        self.inner, self.gx, self.gy = inner, gx[inner], gy[inner]
        hessian = np.array([[self.gx @ self.gx, self.gx @ self.gy], [self.gx @ self.gy, self.gy @ self.gy]])
        self.inverse = np.linalg.pinv(hessian)

    def _warp(self, small: np.ndarray, dx: float, dy: float) -> np.ndarray:
        import cv2

        shift = np.float32([[1, 0, -dx], [0, 1, -dy]])
        return cv2.warpAffine(small, shift, self.size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        import cv2

        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self.size is None:
            h, w = frame.shape
            self.size = (max(8, int(round(w * self.height / h))), self.height)
        small = cv2.resize(reduce(frame, self.height), self.size, interpolation=cv2.INTER_AREA).astype(np.float32)
        if self.reference is None:
            self._setup(small)
            return small, (0.0, 0.0)
        (dx, dy), _ = cv2.phaseCorrelate(self.reference, small, self.window)
        aligned = self._warp(small, dx, dy)
        for _ in range(self.steps):  # aligned(x) ~ ref(x) + grad . (d - true shift)
            err = (aligned - self.reference)[self.inner]
            step = self.inverse @ np.array([self.gx @ err, self.gy @ err])
            dx, dy = dx - float(step[0]), dy - float(step[1])
            aligned = self._warp(small, dx, dy)
        return aligned, (dx, dy)


MARGIN = 0.1  # of the working height: the border cut from aligned images (a shifted image's edge is made up)


def aligned_frames(frames: Iterable[np.ndarray], height: int, ignore: tuple[float, float] = (0.375, 0.5)
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(T x h x w float32 aligned working images, T x 2 head shifts in working pixels). The images lose a
    border of :data:`MARGIN` and the rows of ``ignore`` (height fractions: the eyes), which take no part in
    the alignment either."""
    align = Aligner(height, ignore=ignore)
    images, shifts = [], []
    m = max(1, int(round(MARGIN * height)))
    lo, hi = int(np.floor(ignore[0] * height)), int(np.ceil(ignore[1] * height))
    rows = np.r_[m:max(m, lo), max(hi, m):height - m]
    for frame in frames:
        image, shift = align(frame)
        images.append(image[rows, m:-m])
        shifts.append(shift)
    if len(images) < 2:
        raise ValueError(f"spotting needs at least two frames, got {len(images)}")
    return np.stack(images), np.asarray(shifts, np.float32)


def feature_difference(images: np.ndarray, k: int, grid: int = 8, top_blocks: float = 1 / 3,
                       chunk: int = 512) -> np.ndarray:
    """D(t) for every frame (0 where t-k or t+k is outside the video)."""
    T, h, w = images.shape
    bh, bw = h // grid, w // grid
    if bh < 1 or bw < 1:
        raise ValueError(f"a {h}x{w} working image (without the eye band) is too small for a {grid}x{grid} grid")
    m = max(1, int(round(top_blocks * grid * grid)))
    cut = images[:, :bh * grid, :bw * grid]
    D = np.zeros(T, np.float32)
    for start in range(k, T - k, chunk):
        t = np.arange(start, min(T - k, start + chunk))
        diff = np.square(cut[t] - 0.5 * (cut[t - k] + cut[t + k]))
        blocks = diff.reshape(len(t), grid, bh, grid, bw).mean(axis=(2, 4)).reshape(len(t), -1)
        D[t] = np.partition(blocks, -m, axis=1)[:, -m:].mean(axis=1)
    return D


def contrast(D: np.ndarray, k: int) -> np.ndarray:
    """C(t) = D(t) - (D(t-k) + D(t+k)) / 2, 0 where t-k or t+k is outside ``D``."""
    C = np.zeros_like(D)
    T = len(D)
    if T > 2 * k:
        t = np.arange(k, T - k)
        C[t] = D[t] - 0.5 * (D[t - k] + D[t + k])
    return C


def noise_level(D: np.ndarray) -> float:
    """The standard deviation of the contrast's noise: from the frame-to-frame changes of D (white sensor
    noise changes D every frame, expressions change it smoothly), robustly (median absolute deviation),
    times sqrt(1.5) for the three D values a contrast combines. Unlike the spread of the contrast itself,
    it does not grow with how many expressions a video holds."""
    valid = D[D != 0]
    if valid.size < 3:
        return float("inf")
    d = np.diff(valid)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2) * np.sqrt(1.5))


def peaks_to_intervals(C: np.ndarray, threshold: float, edge: float, min_gap: int, widen: float = 1.0
                       ) -> list[tuple[int, int, int, float]]:
    """(start, peak, end, height) per peak above ``threshold``, strongest first: each interval spans where C
    stays above ``edge`` x its height, its sides then stretched ``widen`` times about the peak; frames
    within ``min_gap`` of a found interval are not searched again."""
    C = C.astype(np.float64).copy()
    shape = np.sqrt(np.clip(C, 0, None))  # energies: their square root grows with the motion's envelope
    free = np.ones(len(C), bool)
    out = []
    while True:
        candidates = np.where(free, C, -np.inf)
        p = int(np.argmax(candidates))
        height = candidates[p]
        if not np.isfinite(height) or height <= threshold:
            return out
        level = edge * shape[p]
        s = p
        while s > 0 and shape[s - 1] > level and free[s - 1]:
            s -= 1
        e = p
        while e < len(C) - 1 and shape[e + 1] > level and free[e + 1]:
            e += 1
        s, e = max(0, int(round(p - widen * (p - s)))), min(len(C) - 1, int(round(p + widen * (e - p))))
        out.append((s, p, e, float(height)))
        free[max(0, s - min_gap):e + min_gap + 1] = False


@dataclass
class SpotSignal:
    """A video's spotting signals: the contrast at both scales, their noise levels, the head shifts."""

    fps: float
    settings: LongSpotSettings
    micro: np.ndarray
    macro: np.ndarray
    micro_noise: float
    macro_noise: float
    shifts: np.ndarray
    k_micro: int
    k_macro: int


def _scale(images: np.ndarray, k: int, s: LongSpotSettings) -> tuple[np.ndarray, float]:
    """Contrast and its noise level at one scale. Where the frames k before or after are missing (a video's
    first and last k frames), D is the median of the rest: those frames are taken as still."""
    T = len(images)
    D = feature_difference(images, k, s.grid, s.top_blocks)
    valid = D[k:T - k]
    fill = float(np.median(valid)) if valid.size else 0.0
    padded = np.full(T + 2 * k, fill, np.float32)
    padded[2 * k:T] = valid
    return contrast(padded, k)[k:k + T], noise_level(valid)


def spot_signal(frames: Iterable[np.ndarray], fps: float, settings: LongSpotSettings | None = None) -> SpotSignal:
    """The contrast signals of a video (frames: gray or BGR, in order)."""
    s = settings or LongSpotSettings()
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"the frame rate must be a positive number, got {fps}")
    images, shifts = aligned_frames(frames, s.height, s.eye_band)
    k_mi = max(1, int(round(s.micro_window_s * fps)))
    k_ma = max(k_mi + 1, int(round(s.macro_window_s * fps)))
    if len(images) <= 2 * k_mi + 2:
        raise ValueError(f"{len(images)} frames ({len(images) / fps:.2f} s) are too few to spot in: the micro scale "
                         f"compares each frame with those {k_mi} before and after it")
    if float(images[0].std()) < 2.0:
        raise ValueError("the first frame is uniform (gray-level spread under 2): no face to spot on")
    C_mi, n_mi = _scale(images, k_mi, s)
    C_ma, n_ma = _scale(images, k_ma, s)
    return SpotSignal(fps, s, C_mi, C_ma, n_mi, n_ma, shifts, k_mi, k_ma)


def intervals(signal: SpotSignal, threshold: float | None = None) -> list[dict]:
    """Spotted intervals (frame indices from 0) in time order: type micro/macro, onset, apex, offset and the
    score (the peak's contrast in noise standard deviations). ``threshold`` overrides the settings' one."""
    s = signal.settings
    z = s.threshold if threshold is None else threshold
    max_micro = int(round(s.max_micro_s * signal.fps))
    macro = [iv for iv in peaks_to_intervals(signal.macro, z * signal.macro_noise, s.edge, signal.k_micro, s.widen)
             if iv[2] - iv[0] + 1 > max_micro]
    out = [{"type": "macro", "onset": a, "apex": p, "offset": b, "score": h / signal.macro_noise}
           for a, p, b, h in macro]
    near = signal.k_micro // 2  # a macro-expression's rise and fall show at the micro scale too, near its ends
    for a, p, b, h in peaks_to_intervals(signal.micro, z * signal.micro_noise, s.edge, max(1, signal.k_micro // 2),
                                         s.widen):
        if b - a + 1 > max_micro:
            continue
        if any(a <= mb + near and ma - near <= b for ma, _, mb, _ in macro):
            continue
        out.append({"type": "micro", "onset": a, "apex": p, "offset": b, "score": h / signal.micro_noise})
    return sorted(out, key=lambda r: r["onset"])


# ----------------------------------------------------------------------------- the MEGC spotting protocol

def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two inclusive frame intervals."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    return inter / ((a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter)


def match(spotted: list[tuple[int, int]], truth: list[tuple[int, int]], min_iou: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matches (spotted index, truth index, IoU) with IoU >= ``min_iou``: pairs taken in order of
    IoU, each interval used once (a ground-truth interval is found once however many spots cover it)."""
    pairs = sorted(((iou(s, t), i, j) for i, s in enumerate(spotted) for j, t in enumerate(truth)), reverse=True)
    used_s, used_t, out = set(), set(), []
    for v, i, j in pairs:
        if v < min_iou:
            break
        if i not in used_s and j not in used_t:
            used_s.add(i)
            used_t.add(j)
            out.append((i, j, v))
    return out


def prf(tp: int, n_spotted: int, n_truth: int) -> dict:
    precision = tp / n_spotted if n_spotted else 0.0
    recall = tp / n_truth if n_truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": n_spotted - tp, "fn": n_truth - tp, "precision": precision, "recall": recall, "f1": f1}


def score_spotting(spotted, truth, min_iou: float = 0.5) -> dict:
    """The MEGC spotting scores pooled over videos: ``spotted`` and ``truth`` are DataFrames (or record lists)
    with subject, video, type, onset, offset. A spot is a true positive when its IoU with a ground-truth
    interval of the same video and type is >= ``min_iou``; precision, recall and F1 per type (micro, macro)
    and overall (the sums of both). Returns {"micro": {...}, "macro": {...}, "overall": {...}, "matches": [...]}
    (matches name rows of the two tables by position)."""
    import pandas as pd

    columns = ["subject", "video", "type", "onset", "offset"]
    spotted = pd.DataFrame(list(spotted.to_dict("records")) if hasattr(spotted, "to_dict") else list(spotted),
                           columns=columns).reset_index(drop=True)
    truth = pd.DataFrame(list(truth.to_dict("records")) if hasattr(truth, "to_dict") else list(truth),
                         columns=columns).reset_index(drop=True)
    scores, matches = {}, []
    keys = sorted(set(zip(spotted.subject.astype(str), spotted.video.astype(str)))
                  | set(zip(truth.subject.astype(str), truth.video.astype(str))))
    for kind in ("micro", "macro"):
        tp = n_s = n_t = 0
        for subject, video in keys:
            s = spotted[(spotted.subject.astype(str) == subject) & (spotted.video.astype(str) == video) & (spotted.type == kind)]
            t = truth[(truth.subject.astype(str) == subject) & (truth.video.astype(str) == video) & (truth.type == kind)]
            found = match(list(zip(s.onset, s.offset)), list(zip(t.onset, t.offset)), min_iou)
            tp += len(found)
            n_s += len(s)
            n_t += len(t)
            matches += [{"subject": subject, "video": video, "type": kind, "spotted": int(s.index[i]),
                         "truth": int(t.index[j]), "iou": v} for i, j, v in found]
        scores[kind] = prf(tp, n_s, n_t)
    total = {k: scores["micro"][k] + scores["macro"][k] for k in ("tp", "fp", "fn")}
    scores["overall"] = prf(total["tp"], total["tp"] + total["fp"], total["tp"] + total["fn"])
    scores["matches"] = matches
    return scores
