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


def scores(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int, *, all_classes: bool = True) -> dict:
    """accuracy, uf1, uar (+ per-class arrays), computed with scikit-learn over every class index
    ``0..n_classes-1`` (``zero_division=0``). ``all_classes=False``: per-fold rule (see module doc)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(n_classes))
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    cm = confusion_matrix(y_true, y_pred, labels=labels) if len(y_true) else np.zeros((n_classes, n_classes), np.int64)
    precision, recall, f1, support = (precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
                                      if len(y_true) else [np.zeros(n_classes)] * 3 + [np.zeros(n_classes, int)])
    predicted = cm.sum(axis=0)
    occurs = support > 0
    f1_classes = np.ones(n_classes, bool) if all_classes else occurs | (predicted > 0)
    recall_classes = np.ones(n_classes, bool) if all_classes else occurs
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(np.trace(cm) / n) if n else float("nan"),
        "uf1": float(f1[f1_classes].mean()) if f1_classes.any() else float("nan"),
        "uar": float(recall[recall_classes].mean()) if recall_classes.any() else float("nan"),
        "confusion": cm.astype(np.int64),
        "precision": np.asarray(precision, float), "recall": np.asarray(recall, float), "f1": np.asarray(f1, float),
        "support": np.asarray(support, np.int64), "predicted": predicted.astype(np.int64),
    }
