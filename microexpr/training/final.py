"""The final model of a run: trained on every subject for a number of epochs fixed in advance from the
LOSO folds (each chosen on training subjects only), and bundled for ``microexpr predict``."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .. import svm
from ..bundle import make_bundle, save_bundle
from ..errors import FoldError
from ..handcrafted import is_handcrafted
from ..train_settings import TrainConfig, choose_candidates, ensemble_members
from .data import load_shards
from .loop import data_streams, fit, model_and_optimizer, pick_device, seed_everything, uvs_size

log = logging.getLogger(__name__)


def final_plan(cfg: TrainConfig, fold_metrics: list[dict]) -> tuple[TrainConfig, int | list[int]]:
    """What the final model trains and for how many epochs: the run's settings (an ensemble: each
    member's epochs); with ``choose``, the candidate the folds picked most often (ties: the first
    listed), for the median epoch of the folds that picked it. Each pick was made on a fold's training
    subjects only."""
    if is_handcrafted(cfg.model):  # an SVM has no epochs: its C is chosen again over every subject
        return cfg, 0
    if not cfg.choose:
        return cfg, final_epochs(fold_metrics)
    picks = [f["choose"]["picked"] for f in fold_metrics]
    pick = max(range(1, len(cfg.choose) + 1), key=lambda c: (picks.count(c), -c))
    chosen = [f for f in fold_metrics if f["choose"]["picked"] == pick]
    log.info("final model: candidate %d (picked in %d of %d folds)", pick, len(chosen), len(fold_metrics))
    return TrainConfig(**choose_candidates(asdict(cfg))[pick - 1]), final_epochs(chosen)


def final_epochs(fold_metrics: list[dict]) -> int | list[int]:
    """Epochs for the model trained on every subject: the median of the folds' chosen epochs (each
    chosen on training subjects only), counted from 1; for an ensemble, one such count per member.
    No test subject decides it."""
    if fold_metrics and fold_metrics[0].get("ensemble"):
        n = len(fold_metrics[0]["ensemble"]["members"])
        return [int(np.median([f["ensemble"]["members"][j]["best_epoch"] for f in fold_metrics])) + 1
                for j in range(n)]
    return int(np.median([f["best_epoch"] for f in fold_metrics])) + 1


def train_on_all(shards: list[str | Path], cfg: TrainConfig, epochs: int, progress: bool, desc: str):
    """One model trained on every shard (all augmentations, no validation) for ``epochs`` epochs."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    data, subjects, classes = load_shards(list(shards), data_streams(cfg), augmented=cfg.augment,
                                          input_scale=cfg.input_scale)
    uvs = uvs_size(data)
    if device.type == "cuda":
        data = data.to(device)
    model, opt, scaler = model_and_optimizer(cfg, len(classes), device, uvs)
    gen = torch.Generator().manual_seed(cfg.seed)
    history, _ = fit(model, opt, scaler, data, None, cfg, len(classes), device, gen, epochs=epochs, early_stop=False,
                     desc=desc, progress=progress)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return state, classes, subjects, history, len(data)


def train_final(shards: list[str | Path], out: str | Path, cfg: TrainConfig, *, epochs: int | list[int],
                settings: dict, loso: dict, progress: bool = True) -> dict:
    """Train on every subject's shard for ``epochs`` epochs fixed in advance (an ensemble: one count per
    member, see :func:`final_epochs`), and write a self-contained bundle (see :mod:`microexpr.bundle`)."""
    if is_handcrafted(cfg.model):
        return svm.train_final(shards, out, cfg, settings=settings, loso=loso)
    if cfg.ensemble:
        counts = list(epochs) if isinstance(epochs, (list, tuple)) else [int(epochs)] * len(cfg.ensemble)
        if len(counts) != len(cfg.ensemble):
            raise FoldError(f"final model: {len(counts)} epoch counts for {len(cfg.ensemble)} ensemble members")
        members = []
        for i, (member, n) in enumerate(zip(ensemble_members(asdict(cfg)), counts)):
            state, classes, subjects, history, n_samples = train_on_all(
                shards, TrainConfig(**member), n, progress, f"final model, member {i + 1}")
            members.append({"model": state, "train": member, "epochs": n, "history": history})
        bundle = make_bundle({}, classes, asdict(cfg), settings=settings, loso=loso, epochs=max(counts),
                             subjects=subjects, history=members[0]["history"], members=members)
    else:
        state, classes, subjects, history, n_samples = train_on_all(shards, cfg, int(epochs), progress, "final model")
        bundle = make_bundle(state, classes, asdict(cfg), settings=settings, loso=loso, epochs=int(epochs),
                             subjects=subjects, history=history)
    save_bundle(bundle, out)
    log.info("final model: %d subjects, %d samples, %s epochs -> %s", len(subjects), n_samples, epochs, out)
    return bundle
