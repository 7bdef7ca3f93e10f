"""The linear SVM of the hand-crafted baselines (LBP-TOP, LBP-SIP, HOOF; :mod:`microexpr.handcrafted`):
standardised features, C chosen by a subject-wise inner cross-validation over the training subjects
only, one LOSO fold, the final model. A fitted SVM is stored as plain arrays (tensors in a bundle),
never as a pickled scikit-learn object."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import __version__
from .handcrafted import read_features

log = logging.getLogger(__name__)


def _fit(x: np.ndarray, y: np.ndarray, c: float, seed: int):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=20000, random_state=seed)).fit(x, y)


def to_arrays(pipe, n_classes: int) -> dict[str, np.ndarray]:
    """A fitted pipeline as plain arrays: scaler mean/scale, one row of coefficients per class
    (``present`` marks the classes it was trained on; the others never win)."""
    scaler, svm = pipe[0], pipe[1]
    coef, intercept = np.atleast_2d(svm.coef_), np.atleast_1d(svm.intercept_)
    known = np.asarray(svm.classes_, int)
    if len(known) == 2:  # a binary LinearSVC has one row: its decision is positive for classes_[1]
        coef, intercept = np.vstack([-coef, coef]), np.array([-intercept[0], intercept[0]])
    full_coef = np.zeros((n_classes, coef.shape[1]))
    full_intercept = np.zeros(n_classes)
    present = np.zeros(n_classes, bool)
    full_coef[known], full_intercept[known], present[known] = coef, intercept, True
    return {"mean": scaler.mean_, "scale": scaler.scale_, "coef": full_coef, "intercept": full_intercept,
            "present": present}


def scores_from_arrays(arrays: dict, x: np.ndarray) -> np.ndarray:
    """Class scores (softmax of the decision values; 0 for classes absent from training)."""
    a = {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in arrays.items()}
    if len(a["present"]) == 1 or a["present"].sum() == 1:  # one class seen: it is always the answer
        out = np.zeros((len(x), len(a["present"])))
        out[:, np.flatnonzero(a["present"])[0]] = 1.0
        return out
    z = (np.asarray(x, np.float64) - a["mean"]) / a["scale"]
    d = z @ a["coef"].T + a["intercept"]
    d = np.where(a["present"].astype(bool), d, -np.inf)
    d = d - d.max(axis=1, keepdims=True)
    e = np.exp(d)
    return e / e.sum(axis=1, keepdims=True)


def _fit_arrays(x, y, c, seed, n_classes) -> dict:
    if len(np.unique(y)) < 2:  # LinearSVC needs two classes: the one seen is the answer
        present = np.zeros(n_classes, bool)
        present[int(y[0])] = True
        d = x.shape[1]
        return {"mean": np.zeros(d), "scale": np.ones(d), "coef": np.zeros((n_classes, d)),
                "intercept": np.zeros(n_classes), "present": present}
    return to_arrays(_fit(x, y, c, seed), n_classes)


def choose_c(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, grid, folds: int, seed: int,
             n_classes: int) -> tuple[float, list[dict]]:
    """C by a subject-wise inner cross-validation over the given (training) subjects: each C's
    predictions pooled over ``folds`` subject-disjoint groups, the best pooled UF1 wins (ties: the
    smaller C). Returns (C, one record per C)."""
    from .metrics import scores

    names = np.unique(subjects.astype(str))
    k = min(int(folds), len(names))
    grid = sorted(float(c) for c in grid)
    if k < 2 or len(grid) == 1:
        return grid[0] if len(grid) == 1 else float(np.median(grid)), []
    order = np.random.default_rng(seed).permutation(len(names))
    group_of = {names[i]: g for g, part in enumerate(np.array_split(order, k)) for i in part}
    groups = np.array([group_of[s] for s in subjects.astype(str)])
    records = []
    for c in grid:
        pred = np.empty(len(y), int)
        for g in range(k):
            test = groups == g
            arrays = _fit_arrays(x[~test], y[~test], c, seed, n_classes)
            pred[test] = scores_from_arrays(arrays, x[test]).argmax(1)
        s = scores(y, pred, n_classes)
        records.append({"c": c, "inner_uf1": s["uf1"], "inner_accuracy": s["accuracy"], "inner_folds": k})
    best = max(range(len(records)), key=lambda i: (records[i]["inner_uf1"], -i))
    return grid[best], records


def train_fold(train_files, test_files, out_dir: str | Path, cfg, *, fold: str | None = None) -> dict:
    """One LOSO fold of a hand-crafted method: C chosen on the training subjects only, the SVM fitted on
    all of them, the held-out subject(s) scored once. Writes what :func:`microexpr.training.train_fold`
    writes (``predictions.csv``, ``metrics.json``, ``history.tsv``: the inner cross-validation per C,
    ``model.pt``: the SVM as tensors)."""
    import pandas as pd
    import torch

    from .io import atomic_path
    from .metrics import scores
    from .recipes import recipe_report
    from .errors import FoldError

    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    test_files = [test_files] if isinstance(test_files, (str, Path)) else list(test_files)
    x, y, _, subj, classes, method = read_features(list(train_files))
    xt, yt, ids_t, subj_t, classes_t, method_t = read_features(test_files)
    if (classes_t, method_t) != (classes, method):
        raise FoldError(f"test features ({method_t}, classes {classes_t}) differ from training ({method}, {classes})")
    if method != cfg.model:
        raise FoldError(f"the features are {method}'s, the configuration trains {cfg.model}")
    leaked = sorted(set(subj_t.astype(str)) & set(subj.astype(str)))
    if leaked:
        raise FoldError(f"held-out subject(s) {leaked} are among the training features")
    n_classes = len(classes)
    c, records = choose_c(x, y, subj, cfg.svm_c, cfg.svm_folds, cfg.seed, n_classes)
    arrays = _fit_arrays(x, y, c, cfg.seed, n_classes)
    probs = scores_from_arrays(arrays, xt)
    pred = probs.argmax(1)
    held_out = fold or "+".join(sorted(set(subj_t.astype(str))))
    fold_scores = scores(yt, pred, n_classes, all_classes=False)
    predictions = pd.DataFrame({"sample_id": ids_t, "subject": subj_t.astype(str), "fold": held_out,
                                "label": [classes[i] for i in yt], "pred": [classes[i] for i in pred]})
    for j, name in enumerate(classes):
        predictions[f"p_{name}"] = probs[:, j]
    cfg_dict = asdict(cfg)
    rule = (f"linear SVM, C {c:g} of {sorted(float(v) for v in cfg.svm_c)} by a {records[0]['inner_folds']}-fold "
            "subject-wise inner cross-validation on the training subjects (pooled UF1)" if records
            else f"linear SVM, C {c:g} (too few training subjects for an inner cross-validation)")
    metrics = {
        "fold": held_out, "test_subjects": sorted(set(subj_t.astype(str))),
        "train_subjects": sorted(set(subj.astype(str))),
        "train_shards": [str(p) for p in train_files], "test_shards": [str(p) for p in test_files],
        "classes": classes, "model": cfg.model, "streams": [], "features": method,
        "n_train_samples": int(len(y)), "n_validation_clips": 0, "n_test": int(len(yt)), "validation_clips": [],
        "early_stopping": False,
        "selection": {"rule": rule, "validation": "inner cross-validation", "c": c, "inner": records, "epoch": None},
        "best_epoch": None, "epochs_run": 0,
        "accuracy": fold_scores["accuracy"], "uf1": fold_scores["uf1"], "uar": fold_scores["uar"],
        "confusion": fold_scores["confusion"].tolist(), "device": "cpu", "processor": _processor(),
        "seconds": time.perf_counter() - t_start, "config": cfg_dict, "microexpr": __version__,
        "model_settings": {"method": method, "svm": "LinearSVC on standardised features", "c": c,
                           "n_features": int(x.shape[1])},
        "torch": torch.__version__, "recipe": recipe_report(cfg_dict),
    }
    with atomic_path(out / "predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False)
    with atomic_path(out / "history.tsv") as tmp:
        pd.DataFrame([{**r, "chosen": int(r["c"] == c)} for r in records] or [{"c": c, "chosen": 1}]).to_csv(
            tmp, sep="\t", index=False)
    with atomic_path(out / "model.pt") as tmp:
        torch.save({"model": tensors(arrays), "classes": classes, "config": cfg_dict, "fold": held_out}, tmp)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("fold %s: %s, C %g, test accuracy %.3f, UF1 %.3f (%d clips)", held_out, method, c,
             metrics["accuracy"], metrics["uf1"], len(yt))
    return metrics


def tensors(arrays: dict) -> dict:
    import torch

    return {k: torch.as_tensor(np.asarray(v, np.float64 if k != "present" else bool)) for k, v in arrays.items()}


def _processor() -> str:
    import platform

    return platform.processor() or platform.machine()


def train_final(files, out: str | Path, cfg, *, settings: dict, loso: dict) -> dict:
    """The final model of a hand-crafted run: C by the same inner cross-validation over every
    subject, the SVM fitted on all of them, bundled for ``microexpr predict``."""
    from .bundle import make_bundle, save_bundle

    x, y, _, subj, classes, method = read_features(list(files))
    c, records = choose_c(x, y, subj, cfg.svm_c, cfg.svm_folds, cfg.seed, len(classes))
    arrays = _fit_arrays(x, y, c, cfg.seed, len(classes))
    bundle = make_bundle(tensors(arrays), classes, asdict(cfg), settings=settings, loso=loso, epochs=0,
                         subjects=sorted(set(subj.astype(str))), history=records)
    save_bundle(bundle, out)
    log.info("final model: %s + linear SVM (C %g) on %d clips of %d subjects -> %s", method, c, len(y),
             len(set(subj.astype(str))), out)
    return bundle
