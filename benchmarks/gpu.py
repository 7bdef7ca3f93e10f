"""The GPU check, ready for the day a CUDA machine is at hand (about 5 minutes on one GPU):

1. the CUDA path end to end: a tiny LOSO (3 subjects, 2 folds) at the paper's settings (224 px, width-64
   ResNet-18 streams, SGD lr 1e-3, momentum 0.9, weight decay 5e-4, batch 64) for a few epochs, each
   fold's samples kept on the GPU, AMP and channels_last on; the folds must report device cuda and
   finite scores;
2. MSCNN training speed at 224 px with 1 and with 4 folds sharing the GPU (separate processes, as
   Snakemake runs them with ``--resources gpu_share=4``);
3. the projected wall time of the paper-scale CASME II LOSO (255 clips, 26 folds, x10 augmentation,
   a fifth of the training clips for validation, 200 epochs) from those speeds.

Without CUDA it refuses (exit 1) and measures nothing. Run: make gpu-check
(or .venv/bin/python benchmarks/gpu.py [--epochs 3 --clips 24]).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# the paper-scale CASME II LOSO the projection is for (5-class scheme: 255 clips of 26 subjects)
CASME2_CLIPS, CASME2_FOLDS, AUGMENT, VAL_SHARE, EPOCHS = 255, 26, 10, 0.2, 200


def paper_config(**kw):
    from microexpr.training import TrainConfig

    # the values MSCNN's recipe states (docs/training.md); only the epochs differ in a check
    base = dict(width=64, dense=256, lr=1e-3, momentum=0.9, weight_decay=5e-4, batch_size=64, device="cuda", amp=True)
    return TrainConfig(**{**base, **kw})


def write_shards(folder: Path, clips: int, size: int = 224) -> list[Path]:
    from train import write_shard  # benchmarks/train.py

    rng = np.random.default_rng(0)
    paths = []
    for s in ("s1", "s2", "s3"):
        write_shard(folder / f"{s}.h5", s, clips, size, rng)
        paths.append(folder / f"{s}.h5")
    return paths


def worker(folder: Path, epochs: int, out: Path) -> None:
    """One fold (train s1+s2, test s3), its samples/s written to ``out`` (run in its own process)."""
    from microexpr.training import train_fold

    shards = sorted(folder.glob("s*.h5"))
    metrics = train_fold(shards[:2], shards[2], out.parent / out.stem, paper_config(max_epochs=epochs, patience=100),
                         progress=False)
    import pandas as pd

    hist = pd.read_csv(out.parent / out.stem / "history.tsv", sep="\t")
    rates = hist.samples_per_second.iloc[1:] if len(hist) > 1 else hist.samples_per_second
    out.write_text(json.dumps({"samples_per_second": float(rates.median()), "device": metrics["device"]}))


def concurrent(folder: Path, k: int, epochs: int) -> list[float]:
    """Samples/s of each of ``k`` folds training at once on the one GPU."""
    outs = [folder / f"rate{k}_{i}.json" for i in range(k)]
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(folder), str(epochs), str(o)]) for o in outs]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit(f"gpu check: a concurrent fold failed ({k} folds at once)")
    return [json.loads(o.read_text())["samples_per_second"] for o in outs]


def projection(rate_per_fold: float, folds_at_once: int) -> float:
    """Hours for the paper-scale CASME II LOSO at ``rate_per_fold`` samples/s with that many folds at once."""
    samples = CASME2_CLIPS * (CASME2_FOLDS - 1) / CASME2_FOLDS * AUGMENT * (1 - VAL_SHARE)
    fold_hours = EPOCHS * samples / rate_per_fold / 3600
    return fold_hours * CASME2_FOLDS / folds_at_once


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--clips", type=int, default=24, help="clips per subject (x10 samples), 3 subjects")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import torch

    if args.worker:
        worker(Path(args.worker[0]), int(args.worker[1]), Path(args.worker[2]))
        return 0
    if not torch.cuda.is_available():
        print(f"gpu check: no CUDA device (torch {torch.__version__}, torch.cuda.is_available() is False): "
              "nothing measured; run it on a machine with an NVIDIA GPU", file=sys.stderr)
        return 1
    from microexpr.training import train_fold

    t0 = time.perf_counter()
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shards = write_shards(folder, args.clips)
        for test in (0, 1):  # 1. two LOSO folds end to end
            train = [p for i, p in enumerate(shards) if i != test]
            m = train_fold(train, shards[test], folder / f"fold{test}", paper_config(max_epochs=args.epochs),
                           progress=False)
            ok = m["device"].startswith("cuda") and np.isfinite([m["accuracy"], m["uf1"], m["uar"]]).all()
            print(f"fold {m['fold']}: device {m['device']}, {m['epochs_run']} epochs in {m['seconds']:.1f} s, "
                  f"UF1 {m['uf1']:.3f} -> {'ok' if ok else 'FAILED'}")
            if not ok:
                return 1
        one = concurrent(folder, 1, args.epochs)  # 2. speed with 1 and 4 folds per GPU
        four = concurrent(folder, 4, args.epochs)
    print(f"MSCNN 224 px, width 64, batch 64, AMP: 1 fold {one[0]:.0f} samples/s; 4 folds at once "
          f"{np.mean(four):.0f} samples/s each ({np.sum(four):.0f} together)")
    print(f"projected CASME II LOSO ({CASME2_FOLDS} folds, {EPOCHS} epochs, no early stop): "
          f"{projection(one[0], 1):.1f} h one fold at a time, {projection(np.mean(four), 4):.1f} h four at a time")
    print(f"(check took {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
