"""Spotting in long videos: the MEGC scores on the synthetic reference sets (and at other motion
amplitudes), the speed of the spotting signal against real time at 640 x 480 and 200 fps, and, given a
bundle, the spot-then-recognise score.

Run: .venv/bin/python benchmarks/longspot.py [--amplitudes 0.5 1 1.5] [--seconds 5] [--model final_model.pt]
[--uncropped] (--uncropped: the sets written as whole scenes, each video aligned by the eyes its first
frame shows, or cut to the face box without the faces extra (--face auto); also how often that put the
face right)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexpr.datasets.synthetic_long import REFERENCE_SETS, LongSynthConfig, generate_long, read_events  # noqa: E402
from microexpr.longspot import LongSpotSettings, spot_signal  # noqa: E402
from microexpr.spot_eval import evaluate_dataset  # noqa: E402
from microexpr.spot_recognise import FrameSource  # noqa: E402


def faces_found(result: dict, root: Path) -> tuple[int, int]:
    """(videos whose face was put right, videos): aligned with both true eyes (ground_truth/faces.tsv)
    mapped inside the spotter's eye band and within 0.2 eye distances of their places across, or cut to a
    box holding at least 90 % of the true face box."""
    import numpy as np
    import pandas as pd

    from microexpr import align

    truth = pd.read_csv(root / "ground_truth" / "faces.tsv", sep="\t", dtype={"subject": str, "video": str})
    lo, hi = LongSpotSettings().eye_band
    (h, w), d = align.OUTPUT, align.EYE_DISTANCE
    found = 0
    for f in result["faces"]:
        t = truth[(truth.subject == f["subject"]) & (truth.video == f["video"])].iloc[0]
        if f["transform"]:
            T = np.array(f["transform"])
            ok = True
            for (x, y), want in (((t.eye_lx, t.eye_ly), 0.5 - d / 2), ((t.eye_rx, t.eye_ry), 0.5 + d / 2)):
                gx, gy = T[:, :2] @ [x, y] + T[:, 2]
                ok &= abs(gx - want * w) < 0.2 * d * w and lo * h < gy < hi * h
            found += bool(ok)
        elif f["box"]:
            x0, y0, x1, y1 = f["box"]
            inter = max(0, min(x1, t.x1) - max(x0, t.x0)) * max(0, min(y1, t.y1) - max(y0, t.y0))
            found += inter >= 0.9 * (t.x1 - t.x0) * (t.y1 - t.y0)
    return int(found), len(result["faces"])


def scores_row(fmt: str, amplitude: float, tmp: Path, model: str | None, uncropped: bool = False) -> dict:
    cfg = LongSynthConfig(**{**REFERENCE_SETS[fmt], "micro_amplitude": amplitude, "uncropped": uncropped})
    root = generate_long(cfg, tmp / f"{fmt}_{amplitude:g}", progress=False)
    labels = None
    if model:
        events = read_events(root)
        labels = {(r.subject, r.video, int(r.apex)): r.label for r in events[events.type == "micro"].itertuples()}
    frames = cfg.subjects * cfg.videos_per_subject * int(round(cfg.seconds * (30 if fmt == "casme_sq" else 200)))
    t = time.perf_counter()
    result = evaluate_dataset(fmt, root, model_path=model, labels=labels, face="auto")
    seconds = time.perf_counter() - t
    sc = result["scores"]
    row = {"set": fmt, "amplitude": amplitude, "frames": frames, "seconds": seconds,
           **{f"{k}_{m}": sc[k][m] for k in ("micro", "macro", "overall") for m in ("f1", "precision", "recall", "tp", "fp", "fn")}}
    if model:
        row["strs"] = sc["spot_then_recognise"]["share"]
    if uncropped:
        row["faces_found"] = faces_found(result, root)
    return row


def realtime(seconds: float, tmp: Path, height: int = 480, width: int = 640) -> dict:
    """Frames per second of the spotting signal on a 200 fps gray video of height x width: from frames in
    memory, and read from a folder of JPEG files as predict reads them."""
    cfg = LongSynthConfig(format="samm_lv", subjects=1, seconds=seconds, micro_per_video=1, macro_per_video=0,
                          height=height, width=width, quirks=False)
    root = generate_long(cfg, tmp / f"rt_{height}", progress=False)
    folder = next((root / "SAMM_longvideos").iterdir())
    source = FrameSource(folder, 200.0)
    frames = list(source.frames())
    t = time.perf_counter()
    spot_signal(frames, 200.0, LongSpotSettings())
    memory = len(frames) / (time.perf_counter() - t)
    t = time.perf_counter()
    spot_signal(source.frames(), 200.0, LongSpotSettings())
    disk = len(frames) / (time.perf_counter() - t)
    return {"frames": len(frames), "memory_fps": memory, "disk_fps": disk}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--amplitudes", type=float, nargs="+", default=[1.0], help="micro-expression peak px")
    ap.add_argument("--sets", nargs="+", default=sorted(REFERENCE_SETS), choices=sorted(REFERENCE_SETS))
    ap.add_argument("--seconds", type=float, default=5.0, help="length of the 640 x 480 video timed (0: skip)")
    ap.add_argument("--model", help="a final_model.pt: also the share of micro-expressions spotted and classified right")
    ap.add_argument("--uncropped", action="store_true", help="the sets as whole scenes, faces found and cut first")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("set       amplitude  micro F1 (P, R; TP FP FN)       macro F1   overall F1  frames/s" +
              ("  spotted+recognised" if args.model else ""))
        for fmt in args.sets:
            for amplitude in args.amplitudes:
                r = scores_row(fmt, amplitude, tmp, args.model, args.uncropped)
                rows.append(r)
                print(f"{fmt:9s} {amplitude:5.2f} px   {r['micro_f1']:.3f} ({r['micro_precision']:.2f}, {r['micro_recall']:.2f}; "
                      f"{r['micro_tp']} {r['micro_fp']} {r['micro_fn']})   {r['macro_f1']:.3f}      {r['overall_f1']:.3f}"
                      f"      {r['frames'] / r['seconds']:7.0f}" + (f"   {r['strs']:.3f}" if args.model else "")
                      + (" ; face found in {} of {} videos".format(*r["faces_found"]) if args.uncropped else ""))
        if args.seconds:
            rt = realtime(args.seconds, tmp)
            print(f"640x480 gray, 200 fps, {rt['frames']} frames: spotting signal {rt['memory_fps']:.0f} frames/s from "
                  f"memory ({rt['memory_fps'] / 200:.2f}x real time), {rt['disk_fps']:.0f} frames/s read from JPEG "
                  f"files ({rt['disk_fps'] / 200:.2f}x real time)")
            rows.append(rt)
    return rows


if __name__ == "__main__":
    main()
