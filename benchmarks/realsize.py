"""Pre-processing at real frame sizes and clip lengths: seconds per clip of each stage (EVM, TV-L1 flow
onset -> apex, the x10 stream images at the model size) and the peak memory of a process doing one clip,
on synthetic clips; the projected wall time of a whole CASME II pre-processing (one clip after another
per core); and the flow at working heights (``flow.max_height``): its seconds and its error against the
generator's true motion.

Run: .venv/bin/python benchmarks/realsize.py [--sizes casme2 samm] [--frames 40 80 160] [--size 224]
Each (size, length) runs in a fresh process, so its peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# frame sizes (height, width): a CASME II face crop and a SAMM frame (grey)
SIZES = {"casme2": (340, 280), "samm": (650, 960)}
# flow.max_height values compared with the frames' own size (None): the model size, and half of it
WORKING_HEIGHTS = (None, 224, 112)
# the paper-scale CASME II set the projection is for (from benchmarks/gpu.py, its one owner)
from gpu import CASME2_CLIPS  # noqa: E402


def one_clip(height: int, width: int, frames: int, size: int) -> dict:
    """Time the stages on one synthetic clip; peak resident memory of this process (MB)."""
    import numpy as np

    from microexpr.clip import ImageSettings, clip_streams, flow_field, magnify
    from microexpr.flow import make_flow_estimator
    from microexpr.magnify import EVMSettings
    from preprocess import synthetic_clip

    clip, truth = synthetic_clip(height, width, frames, truth=True)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    mag = magnify(clip, 200.0, EVMSettings(alpha=8))
    t1 = time.perf_counter()
    estimate = make_flow_estimator("tvl1")
    flow = flow_field(mag[0], mag[frames // 2], estimate)
    t2 = time.perf_counter()
    streams = clip_streams(flow, mag[frames // 2], ImageSettings(size=size))
    t3 = time.perf_counter()
    assert len(streams) == 10
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    working = {}
    for h in WORKING_HEIGHTS:  # seconds on the magnified pair (as the stage), error on the clip's own pair
        estimate = make_flow_estimator("tvl1", max_height=h)
        t = time.perf_counter()
        estimate(mag[0], mag[frames // 2])
        working[str(h)] = {"seconds": time.perf_counter() - t,
                           "epe": moving_epe(estimate(clip[0], clip[frames // 2]), truth)}
    return {"evm": t1 - t0, "flow": t2 - t1, "images": t3 - t2, "peak_mb": peak, "before_mb": base,
            "clip_mb": clip.nbytes / 1e6, "working": working}


def moving_epe(flow, truth, min_px: float = 0.2) -> float:
    """Mean end-point error (px) where the face moves by ``min_px`` or more, the head's translation (the
    median vector) taken out of both fields first."""
    import numpy as np

    from microexpr.flow import remove_global_motion

    local = remove_global_motion(truth)
    moving = np.hypot(local[..., 0], local[..., 1]) >= min_px
    err = remove_global_motion(np.asarray(flow, np.float32)) - local
    return float(np.hypot(err[..., 0], err[..., 1])[moving].mean())


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=sorted(SIZES))
    ap.add_argument("--frames", nargs="+", type=int, default=[40, 80, 160], help="onset..offset lengths")
    ap.add_argument("--size", type=int, default=224, help="model image size (the paper: 224)")
    ap.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(one_clip(*args.child)))
        return []
    print(f"cores: {os.cpu_count()}; synthetic clips at 200 fps; EVM alpha 8 (ideal), TV-L1 flow onset -> apex, "
          f"10 stream images at {args.size} px; one fresh process per row")
    print(f"{'frames':>14s} {'length':>6s} {'EVM s':>7s} {'flow s':>7s} {'images s':>8s} {'clip s':>7s} "
          f"{'peak MB':>8s} {'clip MB':>8s}")
    rows = []
    for name in args.sizes:
        height, width = SIZES[name]
        for n in args.frames:
            run = subprocess.run([sys.executable, __file__, "--child", str(height), str(width), str(n), str(args.size)],
                                 capture_output=True, text=True, check=True)
            r = {"dataset": name, "height": height, "width": width, "frames": n, **json.loads(run.stdout)}
            r["total"] = r["evm"] + r["flow"] + r["images"]
            rows.append(r)
            print(f"{name:>6s} {height}x{width} {n:6d} {r['evm']:7.3f} {r['flow']:7.3f} {r['images']:8.3f} "
                  f"{r['total']:7.3f} {r['peak_mb']:8.0f} {r['clip_mb']:8.1f}")
    print("flow at a working height (flow.max_height), on each size's shortest clip: TV-L1 seconds, and the "
          "mean end-point error (px) where the face moves >= 0.2 px (head translation removed)")
    print(f"{'frames':>14s} " + " ".join(f"{'full' if h is None else h:>6}: s   EPE" for h in WORKING_HEIGHTS))
    for name in args.sizes:
        r = min((r for r in rows if r["dataset"] == name), key=lambda r: r["frames"])
        print(f"{name:>6s} {r['height']}x{r['width']} " + " ".join(
            f"{r['working'][str(h)]['seconds']:9.2f} {r['working'][str(h)]['epe']:5.3f}" for h in WORKING_HEIGHTS))
    casme = [r for r in rows if r["dataset"] == "casme2"]
    if casme:
        mid = min(casme, key=lambda r: abs(r["frames"] - 80))
        for cores in (2, 16):
            minutes = CASME2_CLIPS * mid["total"] / cores / 60
            print(f"projected CASME II pre-processing ({CASME2_CLIPS} clips of {mid['frames']} frames, {cores} cores, "
                  f"one clip per core at a time): {minutes:.1f} min")
    return rows


if __name__ == "__main__":
    main()
