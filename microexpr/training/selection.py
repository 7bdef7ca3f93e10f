"""Which weights a fold tests, chosen on its training subjects only.

* :func:`plan_validation`: the validation split(s) of ``cfg.validation``: a stratified share of the
  training *clips* (all their augmentations leave the training set; validation uses the originals),
  whole training subjects (one split, or several disjoint groups whose curves are averaged), or none.
  Never the held-out subject.
* :class:`Selector`: the epoch with the best (optionally smoothed) validation value from ``min_epochs``
  on, early stopping after ``patience``; without validation data, the last epoch.
* :func:`epoch_from_curves`: with several subject-disjoint splits, the epoch of the best mean curve.

The splitters are a few lines of numpy rather than scikit-learn's: importing scikit-learn costs
about 1.8 s in each training job on 2 cores, and these orders are what the recorded folds were made with.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch.nn as nn

from ..train_settings import TrainConfig


def validation_clips(ids: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> set[str]:
    """A stratified random share of the clips (at least one per class that has two or more clips)."""
    rng = np.random.default_rng(seed)
    first = np.sort(np.unique(ids, return_index=True)[1])  # each clip's first sample, in order of appearance
    clip_ids, clip_labels = ids[first], labels[first]
    chosen = set()
    for label in np.unique(clip_labels):
        group = clip_ids[clip_labels == label]
        n = len(group)
        k = min(n - 1, max(1, int(round(fraction * n)))) if n >= 2 else 0
        chosen.update(rng.choice(group, size=k, replace=False).tolist())
    return chosen


def subject_splits(subjects: list[str], cfg: TrainConfig) -> list[list[str]]:
    """Validation subjects of each subject-wise split (whole training subjects held out, as the test
    subject is): one split of ``val_fraction`` of them, or ``val_splits`` disjoint groups. Empty when
    there are fewer than two training subjects."""
    subjects = sorted(subjects)
    if len(subjects) < 2:
        return []
    order = list(np.random.default_rng(cfg.seed).permutation(subjects))
    if cfg.val_splits == 1:
        n_val = min(len(order) - 1, max(1, int(round(cfg.val_fraction * len(order)))))
        return [sorted(order[:n_val])]
    k = min(cfg.val_splits, len(order))
    return [sorted(order[i::k]) for i in range(k)]


def inner_groups(train_shards: list[str | Path], k: int, seed: int) -> list[list[str]]:
    """The training shards (one per subject) in ``k`` subject-disjoint groups, shuffled by ``seed``
    (fewer groups where there are fewer shards)."""
    shards = sorted(str(p) for p in train_shards)
    order = np.random.default_rng(seed).permutation(len(shards))
    k = min(k, len(shards))
    return [[shards[i] for i in sorted(part)] for part in np.array_split(order, k)]


@dataclass
class ValidationPlan:
    """The (train mask, validation mask) pairs over a fold's training samples, and what they were made of."""

    splits: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    val_ids: set[str] = field(default_factory=set)   # validation clips (``clips``)
    groups: list[list[str]] = field(default_factory=list)  # validation subjects of each split (``subjects``)


def plan_validation(ids: np.ndarray, labels: np.ndarray, subjects: np.ndarray, aug: np.ndarray,
                    cfg: TrainConfig) -> ValidationPlan:
    """The validation split(s) ``cfg.validation`` asks for over the training samples (validation on
    the original samples only); no split where too few clips or subjects allow one."""
    if cfg.validation == "clips":
        val_ids = validation_clips(ids, labels, cfg.val_fraction, cfg.seed)
        is_val = np.isin(ids, list(val_ids))
        return ValidationPlan([(~is_val, is_val & (aug == 0))] if is_val.any() else [], val_ids=val_ids)
    if cfg.validation == "subjects":
        names = subjects.astype(str)
        groups = subject_splits(list(np.unique(names)), cfg)
        return ValidationPlan([(~np.isin(names, g), np.isin(names, g) & (aug == 0)) for g in groups], groups=groups)
    return ValidationPlan()


def epoch_from_curves(curves: np.ndarray, min_epochs: int) -> int:
    """The epoch (0-based) of the lowest mean monitored value over several splits' curves, from ``min_epochs``
    on (the last epoch where none is eligible)."""
    mean_curve = curves.mean(axis=0)
    eligible = np.arange(len(mean_curve)) >= min_epochs
    return int(np.flatnonzero(eligible)[np.argmin(mean_curve[eligible])]) if eligible.any() else len(mean_curve) - 1


def average_curves(history: list[dict], inner: list[list[dict]]) -> None:
    """Write the inner splits' mean monitored value and validation scores into ``history`` (the
    report plots them beside the retrained model's training loss)."""
    for key in ("monitored", "val_loss", "val_uf1", "val_accuracy"):
        values = np.array([[r[key] for r in h] for h in inner])
        means = values.mean(axis=0) if key == "monitored" else np.nanmean(values, axis=0)
        for r, m in zip(history, means):
            r[key] = float(m)


class Selector:
    """The epoch whose weights are tested: the best (optionally smoothed) validation value from
    ``min_epochs`` on; with no validation data, the last epoch."""

    def __init__(self, cfg: TrainConfig, has_validation: bool, state: dict | None = None):
        self.cfg, self.has_validation = cfg, has_validation
        self.raw: list[float] = []
        self.best = {"epoch": -1, "value": math.inf, "state": None}
        if state:
            self.raw, self.best = state["raw"], state["best"]

    def state(self) -> dict:
        return {"raw": self.raw, "best": self.best}

    def value(self, v: dict) -> float:
        raw = v["loss"] if self.cfg.monitor == "loss" else -v["uf1"]
        self.raw.append(raw)
        window = self.raw[-self.cfg.smoothing:]
        return float(np.mean(window))

    def update(self, epoch: int, v: dict, model: nn.Module) -> float:
        value = self.value(v) if self.has_validation else -float(epoch)
        eligible = epoch >= self.cfg.min_epochs or not self.has_validation
        if eligible and (value < self.best["value"] or self.best["epoch"] < 0):
            self.best = {"epoch": epoch, "value": value, "state": copy.deepcopy(model.state_dict())}
        return value

    def stop(self, epoch: int) -> bool:
        """Early stopping: only with validation data, and not before min_epochs."""
        return (self.has_validation and self.best["epoch"] >= 0 and epoch >= self.cfg.min_epochs
                and epoch - self.best["epoch"] > self.cfg.patience)
