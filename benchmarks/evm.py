"""EVM speed against the common Python implementation of the same algorithm, and peak memory.

The "common implementation" is written here, as EVM ports usually do it: each frame's Laplacian
pyramid built with cv2.pyrDown/pyrUp in a loop, an FFT along time with ``scipy.fftpack`` on float32
bands (ideal band-pass, both sides of the spectrum, as microexpr's convention), levels with zero gain
skipped, and the amplified bands collapsed frame by frame. Both get the same gains
(:func:`microexpr.magnify.level_gains`) so their outputs agree; the benchmark checks that too.

Run: .venv/bin/python benchmarks/evm.py [--frames 64] [--repeat 3]   (part of make bench)
Peak RSS of magnifying a 200-frame 280x340 gray clip is measured in a fresh process per implementation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# one thread for both implementations (a pipeline job gets one core; fair to the single-threaded FFT)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from microexpr.magnify import level_gains, magnify, max_levels  # noqa: E402
from preprocess import best_of  # noqa: E402  (benchmarks/preprocess.py, beside this file)

ALPHA, LAMBDA_C, LOW, HIGH, FPS = 8.0, 16.0, 5.0, 20.0, 200.0
SIZES = {"280x340 gray": (280, 340, None), "280x340x3": (280, 340, 3), "224x224 gray": (224, 224, None)}


def common_evm(frames: np.ndarray, fps: float, alpha: float, low: float, high: float, lambda_c: float) -> np.ndarray:
    import cv2
    from scipy import fftpack

    t, h, w = frames.shape[:3]
    n = max_levels(h, w)
    gains = level_gains(n, alpha, lambda_c, h, w)
    pyramids = []
    for frame in frames.astype(np.float32):
        bands, current = [], frame
        for _ in range(n - 1):
            down = cv2.pyrDown(current)
            up = cv2.pyrUp(down, dstsize=(current.shape[1], current.shape[0]))
            bands.append(current - up)
            current = down
        bands.append(current)
        pyramids.append(bands)
    freqs = fftpack.fftfreq(t, d=1.0 / fps)
    keep = (np.abs(freqs) >= low) & (np.abs(freqs) <= high)
    amplified = {}
    for level, gain in enumerate(gains):
        if gain == 0:
            continue
        series = np.stack([p[level] for p in pyramids])
        spectrum = fftpack.fft(series, axis=0)
        spectrum[~keep] = 0
        amplified[level] = gain * np.real(fftpack.ifft(spectrum, axis=0)).astype(np.float32)
    out = np.empty(frames.shape, np.float32)
    for i, frame in enumerate(frames.astype(np.float32)):
        delta = np.zeros_like(pyramids[i][-1])
        for level in range(n - 2, -1, -1):
            size = pyramids[i][level].shape
            delta = cv2.pyrUp(delta, dstsize=(size[1], size[0])).reshape(size)
            if level in amplified:
                delta = delta + amplified[level][i]
        out[i] = frame + delta
    return np.clip(out, 0, 255)


def clip_of(height: int, width: int, channels: int | None, frames: int, seed: int = 0) -> np.ndarray:
    """Smooth texture with a small moving patch (the content does not change the cost)."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (height, width)).astype(np.float32), (0, 0), 3)
    base = 60 + 140 * (base - base.min()) / (np.ptp(base) + 1e-6)
    clip = np.empty((frames, height, width), np.float32)
    for t in range(frames):
        shift = 0.5 * np.sin(2 * np.pi * 10 * t / FPS)
        m = np.float32([[1, 0, shift], [0, 1, 0]])
        clip[t] = cv2.warpAffine(base, m, (width, height), borderMode=cv2.BORDER_REFLECT)
    clip = np.clip(clip + rng.normal(0, 1.5, clip.shape), 0, 255).astype(np.uint8)
    return np.repeat(clip[..., None], channels, axis=3) if channels else clip


def peak_rss_mb(which: str, frames: int = 200) -> tuple[float, float]:
    """Peak RSS (MB) of one magnification in a fresh process, and how far it rose above the process
    with its clip loaded (Linux: the peak is reset through /proc/self/clear_refs before the call)."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "import evm\n"
            "def status(key):\n"
            "    return int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1])\n"
            f"clip = evm.clip_of(280, 340, None, {frames})\n"
            f"evm.run_one({which!r}, clip[:8])\n"  # imports and first-call allocations out of the way
            "open('/proc/self/clear_refs', 'w').write('5')\n"
            "before = status('VmRSS:')\n"
            f"evm.run_one({which!r}, clip)\n"
            "print(status('VmHWM:'), before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, before = map(int, out.stdout.split())
    return peak / 1024, (peak - before) / 1024


def run_one(which: str, clip: np.ndarray) -> np.ndarray:
    if which == "common":
        return common_evm(clip, FPS, ALPHA, LOW, HIGH, LAMBDA_C)
    return magnify(clip, FPS, alpha=ALPHA, low_hz=LOW, high_hz=HIGH, lambda_c=LAMBDA_C)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    results = {}
    print(f"EVM, ideal filter, alpha {ALPHA:g}, lambda_c {LAMBDA_C:g}, {LOW:g}-{HIGH:g} Hz at {FPS:g} fps, "
          f"{args.frames} frames, best of {args.repeat}, one thread")
    for name, (h, w, c) in SIZES.items():
        clip = clip_of(h, w, c, args.frames)
        ours = magnify(clip, FPS, alpha=ALPHA, low_hz=LOW, high_hz=HIGH, lambda_c=LAMBDA_C)
        common = common_evm(clip, FPS, ALPHA, LOW, HIGH, LAMBDA_C) if c is None else np.stack(
            [common_evm(clip[..., k], FPS, ALPHA, LOW, HIGH, LAMBDA_C) for k in range(c)], axis=3)
        diff = float(np.abs(ours - common).max())
        t_ours = best_of(lambda: magnify(clip, FPS, alpha=ALPHA, low_hz=LOW, high_hz=HIGH, lambda_c=LAMBDA_C),
                         args.repeat)
        if c is None:
            t_common = best_of(lambda: common_evm(clip, FPS, ALPHA, LOW, HIGH, LAMBDA_C), args.repeat)
        else:  # the common code magnifies each channel as a gray clip
            t_common = best_of(lambda: [common_evm(clip[..., k], FPS, ALPHA, LOW, HIGH, LAMBDA_C) for k in range(c)],
                               args.repeat)
        results[name] = {"microexpr_s": t_ours, "common_s": t_common, "ratio": t_common / t_ours, "max_diff": diff}
        print(f"  {name:14s} microexpr {1000 * t_ours:7.1f} ms ({args.frames / t_ours:6.0f} frames/s)   "
              f"common {1000 * t_common:7.1f} ms   speed ratio {t_common / t_ours:4.2f}x   max |diff| {diff:.4f}")
    if not args.no_memory:
        for which in ("microexpr", "common"):
            peak, grown = peak_rss_mb(which)
            results[f"rss_{which}"] = {"peak_mb": peak, "grown_mb": grown}
            print(f"  peak RSS, 200 frames 280x340 gray, {which:9s}: {peak:6.0f} MB "
                  f"({grown:5.0f} MB above the process with its clip loaded)")
    ratios = [r["ratio"] for k, r in results.items() if "ratio" in r]
    print(f"  slowest ratio {min(ratios):.2f}x (target >= 1.5x); largest difference {max(r['max_diff'] for k, r in results.items() if 'max_diff' in r):.4f} gray levels")
    return results


if __name__ == "__main__":
    main()
