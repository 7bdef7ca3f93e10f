"""Training speed of the uvs-stream models under their recipes: samples/s of a training step (the
recipe's optimiser, batch size and input) on random 0-255 inputs, and what a full LOSO on the MEGC2019
composite (442 clips, 68 subjects, one sample a clip as the recipes train) would take at that speed.

Run: .venv/bin/python benchmarks/recipes.py [--recipes htnet ststnet] [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexpr.models import count_parameters, create_fold_model  # noqa: E402
from microexpr.recipes import recipe_values  # noqa: E402
from microexpr import optim  # noqa: E402  (what training steps with)
from microexpr.training import pick_device  # noqa: E402

MEGC2019_CLIPS, MEGC2019_SUBJECTS = 442, 68  # the composite's clips and LOSO folds (docs/datasets.md)


def loso_hours(samples_per_s: float, epochs: int) -> float:
    """Hours of one process for a LOSO over the composite: each fold trains on the other subjects' clips."""
    per_fold = MEGC2019_CLIPS * (MEGC2019_SUBJECTS - 1) / MEGC2019_SUBJECTS
    return MEGC2019_SUBJECTS * per_fold * epochs / samples_per_s / 3600


def measure(recipe: str, steps: int, device: torch.device, uvs_size: int | None = None) -> dict:
    values = recipe_values(recipe)
    size = uvs_size or (64 if values["model"] in ("sssnet", "rcna") else 28)
    torch.manual_seed(0)
    model = create_fold_model(values["model"], num_classes=3, uvs_size=size, dropout=values.get("dropout"),
                              sampler=values.get("sampler")).to(device)
    batch = values["batch_size"]
    x = {"uvs": torch.rand(batch, 3, size, size, device=device) * 255}
    y = torch.randint(0, 3, (batch,), device=device)
    opt = (optim.Adam(model.parameters(), lr=values["lr"]) if values["optimizer"] == "adam"
           else optim.SGD(model.parameters(), lr=values["lr"], momentum=values.get("momentum", 0.9)))
    model.train()
    times = []
    for _ in range(steps + 1):  # the first step (allocation) is not counted
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits, yy = model.forward_train(x, y)
        torch.nn.functional.cross_entropy(logits, yy).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    rate = batch / (sum(times[1:]) / steps)
    return {"recipe": recipe, "model": values["model"], "parameters": count_parameters(model), "batch": batch,
            "size": size, "samples_per_s": rate, "epochs": values["max_epochs"],
            "loso_hours": loso_hours(rate, values["max_epochs"])}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="+", default=["ststnet", "sssnet", "rcna", "htnet"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--uvs-size", type=int, default=None, help="input side for every model (default: each recipe's)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device("auto")
    print(f"device {device}, {torch.get_num_threads()} threads")
    print(f"{'recipe':8} {'params':>12} {'batch':>5} {'side':>4} {'samples/s':>10} {'epochs':>6} {'MEGC2019 LOSO h':>16}")
    rows = []
    for name in args.recipes:
        r = measure(name, args.steps, device, args.uvs_size)
        rows.append(r)
        print(f"{r['recipe']:8} {r['parameters']:>12,} {r['batch']:>5} {r['size']:>4} {r['samples_per_s']:>10.1f} "
              f"{r['epochs']:>6} {r['loso_hours']:>16.2f}")
    return rows


if __name__ == "__main__":
    main()
