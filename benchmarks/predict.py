"""How long `microexpr predict` takes: the first clip of a call (start-up, imports, bundle) and each
further clip in the same call, as a user runs it (a fresh process each time), with the apex spotted
(nothing given) and with onset, apex and offset given; and how close the spotted apex is to the truth.

Run: .venv/bin/python benchmarks/predict.py [--clips 6] [--model results/.../final_model.pt]
[--spotting farneback] (the flow that spots the apex: predict's --spotting)
Without --model, a bundle of the default config's model (config/config.yaml: streams, width, image
size, EVM, flow) with untrained weights is used: the time does not depend on what the weights learned.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_bundle(out: Path) -> Path:
    """A bundle with the default config's settings and untrained weights."""
    import yaml

    from microexpr.datasets.schemes import resolve_scheme
    from microexpr.bundle import make_bundle, save_bundle
    from microexpr.clip import ImageSettings
    from microexpr.training import TrainConfig, build_model
    from microexpr.train_settings import with_model_defaults

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    train = with_model_defaults({**cfg["train"], "pretrained": None})
    classes = sorted(set(resolve_scheme("casme2", "paper5")[1].values()))  # the default run's classes
    model = build_model(TrainConfig(**train), len(classes), ImageSettings(**cfg["images"]).uvs_size)
    settings = {k: cfg[k] for k in ("evm", "flow", "images", "face")}
    bundle = make_bundle(model.state_dict(), classes, train, settings=settings, loso={}, epochs=1,
                         subjects=[], history=[])
    return save_bundle(bundle, out)


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr}")
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    from microexpr.datasets.synthetic import SynthConfig, generate, read_ground_truth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=6, help="clips in the many-clip call")
    ap.add_argument("--model", help="a run's final_model.pt (default: the default config's, untrained)")
    ap.add_argument("--repeat", type=int, default=2, help="best of this many calls")
    from microexpr.spotting import DEFAULT_SPOTTING, SPOT_FLOWS

    ap.add_argument("--spotting", choices=sorted(SPOT_FLOWS), default=DEFAULT_SPOTTING,
                    help="predict's --spotting: the flow that spots the apex")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = generate(SynthConfig(format="casme2", subjects=2, clips_per_subject=max(1, (args.clips + 1) // 2)),
                        tmp / "ds", progress=False)
        truth = read_ground_truth(root).head(args.clips)
        folders = [str(root / "Cropped" / r.subject / r.clip) for r in truth.itertuples()]
        model = args.model or str(default_bundle(tmp / "bundle.pt"))
        base = [sys.executable, "-m", "microexpr", "predict", "--model", model, "--fps", "200",
                "--spotting", args.spotting]
        r0 = truth.iloc[0]
        given = ["--onset", str(r0.onset), "--apex", str(r0.apex), "--offset", str(r0.offset)]
        figures = {}
        for name, extra, inputs in (("spotted, first clip", [], folders[:1]),
                                    (f"spotted, {len(folders)} clips", [], folders),
                                    ("given, first clip", given, folders[:1])):
            figures[name] = min(timed(base + extra + inputs) for _ in range(args.repeat))
        out = tmp / "out"
        subprocess.run(base + folders + ["--out", str(out)], check=True, capture_output=True)
        import pandas as pd

        table = pd.read_csv(out / "predictions.csv")
    error = np.abs(table["apex"].to_numpy() - truth["apex"].to_numpy())
    further = (figures[f"spotted, {len(folders)} clips"] - figures["spotted, first clip"]) / max(1, len(folders) - 1)
    print(f"cores: {os.cpu_count()}; synthetic CASME II clips 170x140 at 200 fps; best of {args.repeat} calls; "
          f"model: {'given' if args.model else 'the default config (untrained weights)'}; spotting: {args.spotting}")
    for name, seconds in figures.items():
        print(f"  {name:22s} {seconds:6.2f} s (the whole call)")
    print(f"  each further clip      {further:6.2f} s (apex spotted)")
    print(f"  spotted apex: mean |error| {error.mean():.1f} frames, within 2 frames {np.mean(error <= 2):.2f} "
          f"({len(error)} clips)")
    return {**figures, "further": further, "apex_error": error}


if __name__ == "__main__":
    main()
