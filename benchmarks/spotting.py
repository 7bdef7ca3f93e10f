"""Apex spotting against the synthetic ground truth: the share of clips whose spotted apex lies within
+-N frames of the true apex, against the middle frame (what loaders use when no apex is annotated).

Run: .venv/bin/python benchmarks/spotting.py [--subjects 4 --clips 8 --format casme2] [--method tvl1]
[--param winsize=9 ...] (--method and --param: the flow that measures the motion and its parameters;
default microexpr.spotting.SPOT_FLOW)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexpr.datasets.synthetic import SynthConfig, generate, read_ground_truth  # noqa: E402
from microexpr.predict import read_clip  # noqa: E402
from microexpr.spotting import SPOT_FLOW, spot_apex  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--format", default="casme2")
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--height", type=int, default=170)
    ap.add_argument("--width", type=int, default=140)
    ap.add_argument("--method", default=None, help="flow method (its default parameters); default: SPOT_FLOW")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a parameter of --method (a number or a word), repeatable")
    args = ap.parse_args(argv)
    flow = dict(SPOT_FLOW) if args.method is None else {"method": args.method}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--param {item!r}: expected NAME=VALUE")
        flow[name] = yaml.safe_load(value)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig(format=args.format, subjects=args.subjects, clips_per_subject=args.clips,
                          height=args.height, width=args.width)
        root = generate(cfg, Path(tmp) / "ds", progress=False)
        truth = read_ground_truth(root)
        spotted, middle, seconds, frames = [], [], [], []
        for r in truth.itertuples():
            folder = next(p for p in root.rglob(r.clip) if p.is_dir() and p.parent.name == r.subject) \
                if args.format != "casme2" else root / "Cropped" / r.subject / r.clip
            clip = read_clip(folder, fps=200)
            i_on, i_off = clip.numbers.index(r.onset), clip.numbers.index(r.offset)
            t0 = time.perf_counter()
            _, apex, _, _ = spot_apex(clip.frames, i_on, i_off, flow=flow)
            seconds.append(time.perf_counter() - t0)
            frames.append(i_off - i_on + 1)
            spotted.append(abs(clip.numbers[apex] - r.apex))
            middle.append(abs((r.onset + r.offset) // 2 - r.apex))
    spotted, middle = np.array(spotted), np.array(middle)
    print(f"{len(spotted)} synthetic {args.format} clips ({args.height}x{args.width}, onset..offset "
          f"{min(frames)}-{max(frames)} frames), motion by {flow}; share of clips within +-N frames of the true apex:")
    print("  N          " + "".join(f"{n:>7d}" for n in (0, 1, 2, 5, 10)))
    for name, err in (("spotted", spotted), ("middle", middle)):
        print(f"  {name:10s} " + "".join(f"{(err <= n).mean():7.2f}" for n in (0, 1, 2, 5, 10)))
    print(f"  mean |error|: spotted {spotted.mean():.1f}, middle {middle.mean():.1f} frames; "
          f"spotting {np.mean(seconds):.2f} s per clip")
    return {"spotted": spotted, "middle": middle}


if __name__ == "__main__":
    main()
