"""Pre-processing speed on this machine: EVM frames/s per filter, optical flow ms/pair per method (the
pipeline's flow stage against the bare OpenCV call), and shard write/read MB/s.

Run: make bench   (or .venv/bin/python benchmarks/preprocess.py [--quick])
Sizes: 224x224 (the model size) and 340x280 (height x width, about a CASME II crop).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexpr.datasets.synthetic import envelope, motion_field, render_clip, smooth_jitter  # noqa: E402
from microexpr.datasets.synthetic_face import make_face  # noqa: E402
from microexpr.magnify import magnify  # noqa: E402
from microexpr.preprocess import flow_subject, read_shard, shard_subject  # noqa: E402


def synthetic_clip(height: int, width: int, frames: int, seed: int = 0, truth: bool = False):
    """A gray clip (T x H x W uint8) with its apex at frame ``frames // 2``; with ``truth``, also the
    true displacement of each pixel from frame 0 to the apex (H x W x 2: the expression and the head's
    translation)."""
    rng = np.random.default_rng(seed)
    face = make_face(rng, height, width, 1)
    flow = motion_field(face, ("AU6", "AU12"), (1.0, 1.0), 1.0, height, width, rng)
    numbers = np.arange(frames)
    env = envelope(numbers, 2, frames // 2, frames - 3)
    jitter = smooth_jitter(rng, frames, 0.15)
    clip = render_clip(face, flow, env, jitter, 1.5, rng)[..., 0]
    if not truth:
        return clip
    a = frames // 2
    return clip, (np.float32(env[a] - env[0]) * flow + (jitter[a] - jitter[0])).astype(np.float32)


def bare_call(method: str, onset: np.ndarray, apex: np.ndarray):
    """The OpenCV call alone, on inputs already in the form it takes (what the stage is measured against)."""
    import cv2

    from microexpr.flow import TVL1_DEFAULTS as p

    if method == "tvl1":
        algo = cv2.optflow.DualTVL1OpticalFlow_create(
            tau=p["tau"], lambda_=p["lambda_"], theta=p["theta"], nscales=p["nscales"], warps=p["warps"],
            epsilon=p["epsilon"], innnerIterations=p["inner_iterations"], outerIterations=p["outer_iterations"],
            scaleStep=p["scale_step"], medianFiltering=p["median_filtering"])
        a, b = onset.astype(np.float32) / 255, apex.astype(np.float32) / 255
        return lambda: algo.calc(a, b, None)
    if method == "dis":
        algo = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda: algo.calc(onset, apex, None)
    return lambda: cv2.calcOpticalFlowFarneback(onset, apex, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and clips")
    args = ap.parse_args()
    repeat, clips = (1, 3) if args.quick else (3, 8)
    frames = 40  # a typical onset..offset segment at 200 fps
    print(f"cores: {os.cpu_count()}, frames per clip: {frames}, repeats: best of {repeat}")
    for height, width in ((224, 224), (340, 280)):
        clip = synthetic_clip(height, width, frames)
        print(f"\n== {height}x{width}")
        for kind in ("ideal", "butterworth", "iir"):
            t = best_of(lambda: magnify(clip, 200.0, alpha=8, filter=kind), repeat)
            print(f"EVM {kind:12s} {frames / t:8.0f} frames/s")

        onset, apex = clip[0], clip[frames // 2]
        with tempfile.TemporaryDirectory() as tmp:
            import h5py

            mag = Path(tmp) / "mag.h5"
            with h5py.File(mag, "w") as h5:
                h5.attrs.update({"subject": "bench", "alpha": 8})
                for c in range(clips):
                    g = h5.create_group(f"clip{c:02d}")
                    g.create_dataset("frames", data=clip)
                    g.create_dataset("frame_numbers", data=np.arange(frames))
                    g.attrs.update({"sample_id": f"bench/bench/clip{c:02d}", "onset": 0, "apex": frames // 2,
                                    "offset": frames - 1, "fps": 200.0})
            for method in ("tvl1", "dis", "farneback"):
                call = bare_call(method, onset, apex)
                call()  # warm-up
                bare, stage = [], []
                for _ in range(repeat):  # interleaved, so both see the same machine load
                    bare.append(best_of(lambda: [call() for _ in range(clips)], 1) / clips)
                    stage.append(best_of(lambda: flow_subject(mag, Path(tmp) / f"flow_{method}.h5", method=method,
                                                              progress=False), 1) / clips)
                b, st = min(bare), min(stage)
                print(f"flow {method:10s} bare OpenCV {1000 * b:7.1f} ms/pair | flow stage "
                      f"{1000 * st:7.1f} ms/pair | ratio {st / b:5.2f} (+{1000 * (st - b):.1f} ms: read, strain, write)")

            import pandas as pd

            manifest = pd.DataFrame({"sample_id": [f"bench/bench/clip{c:02d}" for c in range(clips)],
                                     "label": ["happiness"] * clips})
            shard = Path(tmp) / "shard.h5"
            size = 224
            t = best_of(lambda: shard_subject(Path(tmp) / "flow_tvl1.h5", manifest, shard, classes=["happiness"],
                                              size=size, progress=False), repeat)
            raw_mb = clips * 10 * size * size * (3 + 1 + 1 + 1) / 1e6
            print(f"shard write (x10 augmentation, {size}px): {raw_mb / t:7.1f} MB/s of samples "
                  f"({clips * 10 / t:.0f} samples/s; file {shard.stat().st_size / 1e6:.1f} MB for {raw_mb:.1f} MB)")
            t = best_of(lambda: read_shard(shard, augmented=True), repeat)
            print(f"shard read: {raw_mb * 5 / 6 / t:7.1f} MB/s ({clips * 10 / t:.0f} samples/s, 3 streams)")


if __name__ == "__main__":
    main()
