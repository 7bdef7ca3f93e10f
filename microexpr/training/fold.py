"""Training and evaluation of one LOSO fold: the model never sees the held-out subject before testing.

* Training data: the augmented samples of the training subjects' shards, except the validation clips.
* Validation (which weights are tested): see :mod:`microexpr.training.selection`. Never the held-out
  subject.
* Test: the held-out subject's original (un-augmented) samples, evaluated once, with the weights the
  validation chose.

Checkpoints (every epoch, atomic; :mod:`microexpr.training.checkpoints`) let :func:`train_fold` resume a
killed run with the same settings and shard contents.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import __version__, svm
from ..errors import FoldError
from ..handcrafted import is_handcrafted
from ..io import atomic_path
from ..metrics import scores
from ..models import model_settings
from ..recipes import recipe_report
from ..sampleid import SampleId
from ..train_settings import TrainConfig
from .checkpoints import FoldCheckpoint
from .combine import train_choice, train_ensemble
from .data import ArrayData, class_probabilities, load_shards
from .loop import (
    data_streams, fit, model_and_optimizer, model_kwargs, pick_device, processor_name, seed_everything, uvs_size,
)
from .selection import ValidationPlan, average_curves, epoch_from_curves, plan_validation

log = logging.getLogger(__name__)


def train_fold(train_shards: list[str | Path], test_shards: str | Path | list[str | Path], out_dir: str | Path,
               cfg: TrainConfig, *, fold: str | None = None, progress: bool = True) -> dict:
    """Train on ``train_shards``, choose the tested weights on training subjects only (``cfg.validation``),
    test on ``test_shards`` (one subject's shard for LOSO; every shard of one dataset for
    leave-one-dataset-out). ``fold`` names the fold (default: the held-out subject(s)).

    Writes ``predictions.csv``, ``metrics.json`` (with ``selection``: the rule that picked the weights),
    ``history.tsv`` and ``model.pt`` into ``out_dir`` (each atomically) and keeps ``checkpoint.pt``
    there while training (a single training run resumes from it). Returns the fold's metrics.
    An ensemble trains each member as a fold of its own, ``choose`` picks a candidate by an inner
    cross-validation over the training subjects (:mod:`microexpr.training.combine`); a hand-crafted
    method fits its SVM (:mod:`microexpr.svm`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if is_handcrafted(cfg.model):  # features files, not shards
        return svm.train_fold(train_shards, test_shards, out, cfg, fold=fold)
    if cfg.ensemble:
        return train_ensemble(train_shards, test_shards, out, cfg, fold=fold, progress=progress, train=train_fold)
    if cfg.choose:
        return train_choice(train_shards, test_shards, out, cfg, fold=fold, progress=progress, train=train_fold)
    return train_one(train_shards, test_shards, out, cfg, fold=fold, progress=progress)


def train_one(train_shards, test_shards, out: Path, cfg: TrainConfig, *, fold: str | None, progress: bool) -> dict:
    """One model: the protocol of :func:`train_fold`."""
    t_start = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    data = load_fold(train_shards, test_shards, cfg, fold)
    plan = plan_validation(data.train.ids, data.train.y.numpy(), data.train.subjects, data.train.aug, cfg)
    if cfg.validation != "none" and not plan.splits:
        log.warning("fold %s: no validation split is possible (too few training clips or subjects): the last of "
                    "%d epochs is tested (the test subject is never used to choose)", data.held_out, cfg.max_epochs)
    if device.type == "cuda":  # the fold's samples fit on the GPU as uint8: copy them there once
        data.train, data.test = data.train.to(device), data.test.to(device)
    train, val, epochs, early_stop, inner = fit_plan(data, plan, cfg, device, progress)
    log.info("fold %s: train %d samples (%d clips, subjects %s), validation %d clips, test %d clips; device %s; %s",
             data.held_out, len(train), len(np.unique(train.ids)), ",".join(data.train_subjects),
             0 if val is None else len(val), len(data.test), device, cfg.selection_rule())
    model, opt, scaler = model_and_optimizer(cfg, data.n_classes, device, data.uvs)
    gen = torch.Generator().manual_seed(cfg.seed)
    ckpt = FoldCheckpoint(out / "checkpoint.pt", cfg=cfg, cfg_dict=asdict(cfg), fold=data.held_out, epochs=epochs,
                          inputs=[*data.train_shards, *data.test_shards], model=model, opt=opt, gen=gen)
    history, selector, start = ckpt.resume(device, val is not None and len(val) > 0)
    history, selector = fit(model, opt, scaler, train, val, cfg, data.n_classes, device, gen, epochs=epochs,
                            early_stop=early_stop, desc=f"fold {data.held_out}", progress=progress, history=history,
                            selector=selector, start_epoch=start, on_epoch=ckpt.save)
    best = selector.best
    if best["state"] is None:  # min_epochs beyond the epochs run: the last epoch is tested
        best = {"epoch": len(history) - 1, "value": math.nan, "state": copy.deepcopy(model.state_dict())}
    if inner:  # the retrained model's last epoch; the report plots the averaged inner curves
        best = {**best, "epoch": epochs - 1}
        average_curves(history, inner)
    model.load_state_dict(best["state"])
    probs = class_probabilities(model, data.test, device)
    if not np.isfinite(probs).all():
        raise FoldError(f"fold {data.held_out}: the model's outputs on the test subject are not finite; nothing is "
                        "reported (check the training settings and inputs)")
    run = {"train": train, "val": val, "early_stop": early_stop, "plan": plan, "best": best, "history": history,
           "device": device, "seconds": time.perf_counter() - t_start}
    metrics = write_fold(out, data, probs, run, cfg)
    ckpt.remove()
    return metrics


@dataclass
class FoldData:
    """A fold's training samples (all augmentations) and test samples (the originals), checked for leaks."""

    train: ArrayData
    test: ArrayData
    train_subjects: list[str]
    test_subjects: list[str]
    train_shards: list[str | Path]
    test_shards: list[str | Path]
    classes: list[str]
    held_out: str
    streams: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def uvs(self) -> int | None:
        return uvs_size(self.train)


def load_fold(train_shards, test_shards, cfg: TrainConfig, fold: str | None) -> FoldData:
    """The fold's shards in memory. The same person (dataset/subject of the clip ids) on both sides is a
    leak, whatever the shards' subject names say, and stops the fold; so do differing classes."""
    streams = data_streams(cfg)
    train_all, train_subjects, classes = load_shards(list(train_shards), streams, augmented=cfg.augment,
                                                     input_scale=cfg.input_scale)
    test_shards = [test_shards] if isinstance(test_shards, (str, Path)) else list(test_shards)
    test, test_subjects, test_classes = load_shards(test_shards, streams, augmented=False, input_scale=cfg.input_scale)
    train_people = {SampleId.parse(i).person for i in np.unique(train_all.ids)}
    test_people = {SampleId.parse(i).person for i in np.unique(test.ids)}
    leaked = sorted(set(test_subjects) & set(train_subjects)) or sorted(test_people & train_people)
    if leaked:
        raise FoldError(f"held-out subject(s) {leaked} are among the training shards {train_subjects}")
    if test_classes != classes:
        raise FoldError(f"test shard classes {test_classes} differ from training classes {classes}")
    return FoldData(train_all, test, train_subjects, test_subjects, list(train_shards), test_shards, classes,
                    fold or "+".join(test_subjects), streams)


def fit_plan(data: FoldData, plan: ValidationPlan, cfg: TrainConfig, device, progress: bool):
    """What the fold's model trains on: (train, validation or None, epochs, early stopping, inner curves).
    With several subject-disjoint splits, each is trained for ``max_epochs``, the epoch of their best mean
    curve chosen, and the model retrained on every training subject for that many epochs."""
    if len(plan.splits) > 1:
        inner = []
        for i, (tr, va) in enumerate(plan.splits):
            m, o, sc = model_and_optimizer(cfg, data.n_classes, device, data.uvs)
            g = torch.Generator().manual_seed(cfg.seed + 1000 * (i + 1))
            h, _ = fit(m, o, sc, data.train.subset(tr), data.train.subset(va), cfg, data.n_classes, device, g,
                       epochs=cfg.max_epochs, early_stop=False, desc=f"fold {data.held_out} split {i + 1}",
                       progress=progress)
            inner.append(h)
        chosen = epoch_from_curves(np.array([[r["monitored"] for r in h] for h in inner]), cfg.min_epochs)
        return data.train, None, chosen + 1, False, inner
    if plan.splits:
        tr, va = plan.splits[0]
        return data.train.subset(tr), data.train.subset(va), cfg.max_epochs, True, []
    return data.train, None, cfg.max_epochs, False, []


def write_fold(out: Path, data: FoldData, probs: np.ndarray, run: dict, cfg: TrainConfig) -> dict:
    """The fold's predictions, history, tested weights and metrics, each written atomically."""
    pred = probs.argmax(1)
    y = data.test.y.cpu().numpy()
    classes = data.classes
    predictions = pd.DataFrame({"sample_id": data.test.ids, "subject": data.test.subjects, "fold": data.held_out,
                                "label": [classes[i] for i in y], "pred": [classes[i] for i in pred]})
    for j, c in enumerate(classes):
        predictions[f"p_{c}"] = probs[:, j]
    metrics = fold_metrics(data, scores(y, pred, data.n_classes, all_classes=False), run, cfg)
    best, cfg_dict = run["best"], metrics["config"]
    with atomic_path(out / "predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False)
    with atomic_path(out / "history.tsv") as tmp:
        pd.DataFrame(run["history"]).to_csv(tmp, sep="\t", index=False)
    with atomic_path(out / "model.pt") as tmp:
        torch.save({"model": best["state"], "classes": classes, "config": cfg_dict, "epoch": best["epoch"],
                    "fold": data.held_out}, tmp)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("fold %s: tested epoch %d of %d (%s), test accuracy %.3f, UF1 %.3f (%d clips) in %.0f s", data.held_out,
             best["epoch"], len(run["history"]), metrics["selection"]["rule"], metrics["accuracy"], metrics["uf1"],
             len(data.test), metrics["seconds"])
    return metrics


def fold_metrics(data: FoldData, fold_scores: dict, run: dict, cfg: TrainConfig) -> dict:
    """``metrics.json`` of a fold: its subjects and shards, how its tested weights were selected, its scores,
    and what produced them (settings, the model's constructor arguments, recipe, versions, processor)."""
    plan, val, best, device = run["plan"], run["val"], run["best"], run["device"]
    cfg_dict = asdict(cfg)
    n_val = 0 if val is None else len(val)
    selection = {"rule": cfg.selection_rule() if plan.splits or cfg.validation == "none"
                 else f"fixed {cfg.max_epochs} epochs (no validation split was possible)",
                 "validation": cfg.validation if plan.splits else "none", "monitor": cfg.monitor,
                 "smoothing": cfg.smoothing, "min_epochs": cfg.min_epochs, "patience": cfg.patience,
                 "splits": len(plan.splits), "validation_subjects": plan.groups, "epoch": best["epoch"]}
    return {
        "fold": data.held_out, "test_subjects": data.test_subjects, "train_subjects": data.train_subjects,
        "train_shards": [str(p) for p in data.train_shards], "test_shards": [str(p) for p in data.test_shards],
        "classes": data.classes, "model": cfg.model, "streams": list(data.streams),
        "n_train_samples": len(run["train"]), "n_validation_clips": n_val, "n_test": len(data.test),
        "validation_clips": sorted(plan.val_ids), "early_stopping": run["early_stop"] and n_val > 0,
        "selection": selection, "best_epoch": best["epoch"], "epochs_run": len(run["history"]),
        "accuracy": fold_scores["accuracy"], "uf1": fold_scores["uf1"], "uar": fold_scores["uar"],
        "confusion": fold_scores["confusion"].tolist(), "device": str(device), "processor": processor_name(device),
        "seconds": run["seconds"], "config": cfg_dict, "microexpr": __version__,
        # what the model's constructor got: the settings given, the model's own defaults for the rest
        "model_settings": {k: list(v) if isinstance(v, tuple) else v
                           for k, v in model_settings(cfg.model, **model_kwargs(cfg, data.n_classes, data.uvs)).items()},
        "torch": torch.__version__,
        # the named recipe (train.recipe), every value it set with its source, and what the config overrode
        "recipe": recipe_report(cfg_dict),
    }
