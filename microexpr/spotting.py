"""Apex spotting: where a clip's motion peaks, for clips whose apex is not annotated (SMIC, new recordings).

The motion of frame ``t`` is measured against the onset: the dense optical flow onset -> t (TV-L1, the
pipeline's method: :data:`SPOT_FLOW`), with the head's translation (the median flow vector) removed,
summarised as the mean of its largest 5 % magnitudes (a micro-expression
moves a small part of the face). The apex is the frame where that motion peaks inside onset..offset,
searched coarse to fine (every third frame, then the neighbours of the best). Without onset and offset,
the motion interval is found first: relative to the first frame, up to the last frame whose motion
exceeds half the peak.

Measured on synthetic clips with known apex (``benchmarks/spotting.py``): see docs/training.md.
"""

from __future__ import annotations

import numpy as np

APEX_MODES = ("annotated", "spotted", "middle")

# The flows that can measure motion for spotting, by name: the arguments of
# microexpr.flow.make_flow_estimator (a method, its parameters, and a working height where one is wanted). Measured with benchmarks/spotting.py on synthetic clips of known apex (docs/predict.md):
# farneback (an 11-pixel window, min_height 120, the best of the windows and working sizes tried) is
# 10-20x faster than TV-L1 but puts fewer clips within 5 frames of the truth at 72 x 64 and 340 x 280, so
# TV-L1 is the default (SPOT_FLOW). DIS, other windows and frames made smaller spotted worse.
SPOT_FLOWS = {"tvl1": {"method": "tvl1"},
              "farneback": {"method": "farneback", "winsize": 11, "min_height": 120}}
DEFAULT_SPOTTING = "tvl1"  # what predict --spotting and predict.spotting default to
SPOT_FLOW = SPOT_FLOWS[DEFAULT_SPOTTING]


class _Motion:
    """Motion of frames relative to one reference frame, computed once per frame on demand."""

    def __init__(self, frames: np.ndarray, reference: int, top: float = 0.05, flow: dict | None = None):
        from .flow import make_flow_estimator

        params = dict(SPOT_FLOW if flow is None else flow)
        self.frames, self.reference, self.top = frames, reference, top
        self.estimate = make_flow_estimator(params.pop("method"), **params)
        self.cache: dict[int, float] = {reference: 0.0}

    def __call__(self, t: int) -> float:
        if t not in self.cache:
            from .flow import remove_global_motion

            flow = remove_global_motion(self.estimate(self.frames[self.reference], self.frames[t]))
            mag = np.sqrt((flow ** 2).sum(axis=-1)).ravel()
            k = max(1, int(self.top * mag.size))
            self.cache[t] = float(np.partition(mag, -k)[-k:].mean())
        return self.cache[t]


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
