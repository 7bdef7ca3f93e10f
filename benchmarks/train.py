"""Training speed on this machine: samples/s of train_fold's loop against a bare PyTorch loop on the
same model and batches, and shard loading samples/s. Where CUDA is present, the same at 224 px.

Run: make bench   (or .venv/bin/python benchmarks/train.py [--size 64 --width 16 --samples 640])
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexpr.models import create_model  # noqa: E402
from microexpr import optim  # noqa: E402  (what training steps with)
from microexpr.training import TrainConfig, load_shards, pick_device, train_fold  # noqa: E402

CLASSES = ["a", "b", "c", "d", "e"]


def write_shard(path: Path, subject: str, n_clips: int, size: int, rng: np.random.Generator) -> None:
    import h5py

    n = n_clips * 10
    labels = np.repeat(rng.choice(5, n_clips, p=[0.4, 0.25, 0.15, 0.1, 0.1]), 10)
    with h5py.File(path, "w") as h5:
        h5["flow"] = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        for s in ("gray", "masked", "mask"):
            h5[s] = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        h5["label"] = labels.astype(np.int64)
        h5.create_dataset("sample_id", data=np.repeat([f"bench/{subject}/c{i}" for i in range(n_clips)], 10).astype(object),
                          dtype=h5py.string_dtype())
        h5["aug"] = np.tile(np.arange(10, dtype=np.int8), n_clips)
        h5.attrs.update({"subject": subject, "classes": CLASSES})


def bare_loop(cfg: TrainConfig, train_shards, epochs: int) -> float:
    """The same model and batches, inputs already float on the device: samples/s."""
    device = pick_device(cfg.device)
    torch.manual_seed(0)
    data, _, _ = load_shards(train_shards, cfg.streams, augmented=True)
    inputs, labels = data.batch(torch.arange(len(data)), device)  # normalised once, up front
    model = create_model("mscnn", num_classes=5, streams=cfg.streams, width=cfg.width, dense=cfg.dense,
                         sampler=cfg.sampler or "random").to(device)
    opt = optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    model.train()
    rates = []
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        t0 = time.perf_counter()
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size].to(device)
            if len(idx) < 2:
                continue
            opt.zero_grad(set_to_none=True)
            logits, y = model.forward_train({s: x[idx] for s, x in inputs.items()}, labels[idx])
            torch.nn.functional.cross_entropy(logits, y).backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(len(order) / (time.perf_counter() - t0))
    return float(np.median(rates[1:] if len(rates) > 1 else rates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--clips", type=int, default=32, help="clips per training shard (x10 samples), 2 shards")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    device = pick_device("auto")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shards = []
        for s in ("s1", "s2", "s3"):
            write_shard(tmp / f"{s}.h5", s, args.clips, args.size, rng)
            shards.append(tmp / f"{s}.h5")
        t0 = time.perf_counter()
        data, _, _ = load_shards(shards[:2], ("flow", "gray", "masked"), augmented=True)
        load = len(data) / (time.perf_counter() - t0)
        cfg = TrainConfig(width=args.width, max_epochs=args.epochs, patience=100, threads=args.threads, lr=0.01)
        metrics = train_fold(shards[:2], shards[2], tmp / "fold", cfg, progress=False)
        import pandas as pd

        hist = pd.read_csv(tmp / "fold" / "history.tsv", sep="\t")
        ours = float(hist.samples_per_second.iloc[1:].median() if len(hist) > 1 else hist.samples_per_second.iloc[0])
        bare = bare_loop(cfg, shards[:2], args.epochs)
    print(f"device {device}, threads {args.threads}, {args.size}x{args.size}, ResNet-18 width {args.width} x 3 streams, "
          f"batch {cfg.batch_size}, sampler {cfg.sampler or 'random'}")
    print(f"shard loading: {load:8.0f} samples/s ({len(data)} samples, 3 streams, uint8)")
    print(f"train_fold loop: {ours:8.1f} samples/s | bare PyTorch loop: {bare:8.1f} samples/s | ratio {ours / bare:.2f}")
    print(f"(fold wall time {metrics['seconds']:.1f} s for {metrics['epochs_run']} epochs incl. validation and test)")


if __name__ == "__main__":
    main()
