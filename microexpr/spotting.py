"""Apex spotting: where a clip's motion peaks, for clips whose apex is not annotated (SMIC, new recordings).

The motion of frame ``t`` is measured against the onset, by one of :data:`SPOT_FLOWS`:

* ``fd`` (the default): the feature difference of the long-video spotter (:mod:`microexpr.longspot`;
  the apex as the frame that differs most from the onset, as in Yan et al. 2014 and Liong et al. 2015):
  frames reduced to a working height of at most 128 px (and always below their own), aligned to the onset
  (head translation removed), the mean squared difference per block of an 8 x 8 grid, averaged over the
  largest 10 % of blocks;
* ``tvl1`` or ``farneback``: the dense optical flow onset -> t, with the head's translation (the median
  flow vector) removed, summarised as the mean of its largest 5 % magnitudes.

The apex is the frame where that motion peaks inside onset..offset, searched coarse to fine (every third
frame, then the neighbours of the best). Without onset and offset, the motion interval is found first:
relative to the first frame, up to the last frame whose motion exceeds half the peak.

Measured on synthetic clips with known apex (``benchmarks/spotting.py``): see docs/predict.md.
"""

from __future__ import annotations

import numpy as np

APEX_MODES = ("annotated", "spotted", "middle")

# What can measure motion for spotting, by name: "fd" (no flow: the feature difference, with its working
# height) or the arguments of microexpr.flow.make_flow_estimator (a method, its parameters, a working
# height where one is wanted). Measured with benchmarks/spotting.py on synthetic clips of known apex
# (docs/predict.md): fd puts as many or more clips within 5 frames of the truth as TV-L1 at 72 x 64,
# 170 x 140 and 340 x 280, with a smaller mean error, 60-300x faster, so it is the default. Farneback
# (an 11-pixel window, min_height 120, the best of the windows and sizes tried) is 10-20x faster than
# TV-L1 and less accurate at two of the three sizes; DIS, other windows and smaller frames spotted worse.
SPOT_FLOWS = {"fd": {"method": "fd", "height": 128},
              "tvl1": {"method": "tvl1"},
              "farneback": {"method": "farneback", "winsize": 11, "min_height": 120}}
DEFAULT_SPOTTING = "fd"  # what predict --spotting and predict.spotting default to
SPOT_FLOW = SPOT_FLOWS[DEFAULT_SPOTTING]


class _Motion:
    """Motion of frames relative to one reference frame, computed once per frame on demand."""

    def __init__(self, frames: np.ndarray, reference: int, top: float = 0.05, flow: dict | None = None):
        params = dict(SPOT_FLOW if flow is None else flow)
        self.frames, self.reference, self.top = frames, reference, top
        self.cache: dict[int, float] = {reference: 0.0}
        self.method = params.pop("method")
        if self.method == "fd":  # no flow: the long-video spotter's aligned intensity difference
            self.fd = _FeatureDifference(frames, reference, **params)
            return
        from .flow import make_flow_estimator

        self.estimate = make_flow_estimator(self.method, **params)

    def __call__(self, t: int) -> float:
        if self.method == "fd":
            return self.fd(t)
        if t not in self.cache:
            from .flow import remove_global_motion

            flow = remove_global_motion(self.estimate(self.frames[self.reference], self.frames[t]))
            mag = np.sqrt((flow ** 2).sum(axis=-1)).ravel()
            k = max(1, int(self.top * mag.size))
            self.cache[t] = float(np.partition(mag, -k)[-k:].mean())
        return self.cache[t]


class _FeatureDifference:
    """Motion as :mod:`microexpr.longspot` measures it, against one reference frame: frames reduced to a
    working height and aligned to the reference (head translation removed), the mean squared difference
    per block of a grid, averaged over the largest ``top_blocks`` share of blocks."""

    def __init__(self, frames: np.ndarray, reference: int, height: int = 64, grid: int = 8, top_blocks: float = 0.1,
                 eye_band: tuple[float, float] = (0.0, 0.0)):
        from .longspot import aligned_frames

        # always reduced (smoothed): on unreduced frames, sensor noise and aliasing swamp a 1 px motion
        # (72 x 64 clips spotted at full height put 13 % of apexes within 5 frames, at 64 px 98 %)
        height = min(height, int(0.9 * frames.shape[1]))
        order = [reference] + [i for i in range(len(frames)) if i != reference]  # aligned to the reference
        images, _ = aligned_frames((frames[i] for i in order), height, tuple(eye_band))
        self.images = np.empty_like(images)
        self.images[order] = images
        self.reference, self.grid, self.top = reference, grid, top_blocks

    def __call__(self, t: int) -> float:
        diff = np.square(self.images[t] - self.images[self.reference])
        g = self.grid
        h, w = diff.shape[0] // g, diff.shape[1] // g
        blocks = diff[:h * g, :w * g].reshape(g, h, g, w).mean(axis=(1, 3)).ravel()
        m = max(1, int(round(self.top * blocks.size)))
        return float(np.partition(blocks, -m)[-m:].mean())


def _peak(motion: _Motion, lo: int, hi: int, step: int = 3) -> int:
    coarse = sorted(set(range(lo, hi + 1, step)) | {hi})
    best = max(coarse, key=motion)
    return max(range(max(lo, best - step + 1), min(hi, best + step - 1) + 1), key=motion)


def spot_apex(frames: np.ndarray, onset: int | None = None, offset: int | None = None, *,
              flow: dict | None = None) -> tuple[int, int, int, str]:
    """(onset, apex, offset) as indices into ``frames`` (gray T x H x W), and how they were found;
    ``flow`` (a method and its parameters, as :data:`SPOT_FLOW`) measures the motion."""
    n = len(frames)
    if n < 2:
        raise ValueError(f"apex spotting needs at least two frames, got {n}")
    how = "apex spotted (peak motion from the onset)"
    if onset is None or offset is None:
        first = 0 if onset is None else onset
        motion = _Motion(frames, first, flow=flow)
        samples = sorted(set(range(first, n, 3)) | {n - 1})
        peak = max(motion(t) for t in samples)
        moving = [t for t in samples if peak > 0 and motion(t) >= 0.5 * peak]
        onset = first
        offset = min(n - 1, max(moving) + 3) if offset is None and moving else (n - 1 if offset is None else offset)
        how = "motion interval and apex spotted (peak motion from the first frame)"
    if not 0 <= onset <= offset < n:
        raise ValueError(f"onset {onset} and offset {offset} must satisfy 0 <= onset <= offset < {n}")
    if offset == onset:
        return onset, onset, offset, how
    return onset, _peak(_Motion(frames, onset, flow=flow), onset + 1, offset), offset, how


def choose_apex(frames: np.ndarray, onset: int, offset: int, mode: str) -> int:
    """The apex index for ``mode`` ``spotted`` or ``middle`` (onset..offset as indices into ``frames``)."""
    if mode == "middle":
        return (onset + offset) // 2
    if mode == "spotted":
        return spot_apex(frames, onset, offset)[1]
    raise ValueError(f"apex mode must be one of {APEX_MODES[1:]}, got {mode!r}")
