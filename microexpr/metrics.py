"""Classification metrics as ME papers report them.

* accuracy;
* UF1 (unweighted F1) = mean over classes of ``2 TP / (2 TP + FP + FN)``; a class that occurs but is
  never predicted (or predicted but never occurs) counts with F1 = 0, never dropped;
* UAR (unweighted average recall) = mean over classes of ``TP / (TP + FN)``.

Pooled metrics use every class of the scheme. Per fold (one held-out subject), a class that neither
occurs nor is predicted in that fold has no F1 and is left out of that fold's means (as scikit-learn
does with ``average="macro"``); recall is averaged over the classes that occur.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """``n_classes x n_classes`` counts, rows the true class and columns the predicted one."""
    y_true, y_pred = np.asarray(y_true, int).ravel(), np.asarray(y_pred, int).ravel()
    for name, y in (("true", y_true), ("predicted", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} class indices must lie in 0..{n_classes - 1}, got {sorted(set(y.tolist()))}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 of one or many confusion matrices (``... x C x C``); a class
    without predictions (clips) has precision (recall) 0, and F1 0 when it has neither."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    support, predicted = cm.sum(axis=-1), cm.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(predicted > 0, tp / predicted, 0.0), np.where(support > 0, tp / support, 0.0),
                np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0))


def scores(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int, *, all_classes: bool = True) -> dict:
    """accuracy, uf1, uar (+ per-class arrays) over every class index ``0..n_classes-1``, a class without
    predictions (or without clips) having precision (recall) 0, as scikit-learn's ``zero_division=0``;
    ``all_classes=False``: per-fold rule (see module doc). Plain numpy: the training and report jobs
    do not pay scikit-learn's import (tests/test_metrics.py checks the figures against scikit-learn)."""
    cm = confusion(y_true, y_pred, n_classes)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision, recall, f1 = _per_class(cm)
    occurs = support > 0
    f1_classes = np.ones(n_classes, bool) if all_classes else occurs | (predicted > 0)
    recall_classes = np.ones(n_classes, bool) if all_classes else occurs
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(np.trace(cm) / n) if n else float("nan"),
        "uf1": float(f1[f1_classes].mean()) if f1_classes.any() else float("nan"),
        "uar": float(recall[recall_classes].mean()) if recall_classes.any() else float("nan"),
        "confusion": cm,
        "precision": precision, "recall": recall, "f1": f1,
        "support": support, "predicted": predicted,
    }


def scores_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Pooled accuracy, UF1 and UAR of one or many confusion matrices (``... x C x C``), every class
    counted (a class absent and never predicted has F1 0 and recall 0, as in :func:`scores`)."""
    cm = np.asarray(cm, float)
    _, recall, f1 = _per_class(cm)
    n = cm.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n > 0, np.diagonal(cm, axis1=-2, axis2=-1).sum(axis=-1) / n, np.nan)
    return {"accuracy": accuracy, "uf1": f1.mean(axis=-1), "uar": recall.mean(axis=-1)}


def bootstrap_intervals(y_true: Sequence[int], y_pred: Sequence[int], groups: Sequence, n_classes: int, *,
                        resamples: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile intervals of the pooled scores, resampling **subjects** (``groups``) with replacement:
    clips of one subject are not independent, so resampling clips would understate the spread. Each
    resample pools the predictions of the drawn subjects (a subject drawn twice counts twice)."""
    y_true, y_pred, groups = np.asarray(y_true, int), np.asarray(y_pred, int), np.asarray(groups).astype(str)
    names, index = np.unique(groups, return_inverse=True)
    per_group = np.zeros((len(names), n_classes, n_classes))
    np.add.at(per_group, (index, y_true, y_pred), 1)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    weights = np.stack([np.bincount(d, minlength=len(names)) for d in draws])
    pooled = scores_from_confusion((weights @ per_group.reshape(len(names), -1)).reshape(resamples, n_classes,
                                                                                        n_classes))
    tail = (1 - level) / 2 * 100
    return {"level": level, "resamples": resamples, "unit": "subject", "subjects": int(len(names)), "seed": seed,
            **{k: [float(np.nanpercentile(v, tail)), float(np.nanpercentile(v, 100 - tail))] for k, v in pooled.items()}}
