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
    """Rows: true class; columns: predicted class."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(float)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": cm.sum(axis=1),
            "predicted": cm.sum(axis=0)}


def scores(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int, *, all_classes: bool = True) -> dict:
    """accuracy, uf1, uar (+ per-class arrays). ``all_classes=False``: per-fold rule (see module doc)."""
    cm = confusion(y_true, y_pred, n_classes)
    pc = per_class(cm)
    occurs = pc["support"] > 0
    involved = occurs | (pc["predicted"] > 0)
    f1_classes = np.ones(n_classes, bool) if all_classes else involved
    recall_classes = np.ones(n_classes, bool) if all_classes else occurs
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(np.trace(cm) / n) if n else float("nan"),
        "uf1": float(pc["f1"][f1_classes].mean()) if f1_classes.any() else float("nan"),
        "uar": float(pc["recall"][recall_classes].mean()) if recall_classes.any() else float("nan"),
        "confusion": cm,
        **pc,
    }
