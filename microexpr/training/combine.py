"""Folds of several models: an ensemble (``train.ensemble``: members' class probabilities averaged) and
a choice (``train.choose``: a candidate picked by an inner cross-validation over the training subjects
only). Both train each model with the ``train`` callable they are given (:func:`microexpr.training.train_fold`)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import FoldError
from ..io import atomic_path
from ..metrics import scores
from ..recipes import recipe_report
from ..train_settings import TrainConfig, choose_candidates, ensemble_members
from .selection import inner_groups

log = logging.getLogger(__name__)


def train_ensemble(train_shards, test_shards, out: Path, cfg: TrainConfig, *, fold: str | None,
                   progress: bool, train) -> dict:
    """``cfg.ensemble``: each member trained as its own fold (under ``out/members/m<i>``, its weights
    chosen by its own rule on training subjects only), the members' class probabilities averaged. The
    fold's files are the ensemble's; ``metrics.json`` lists every member's settings and scores."""
    t_start = time.perf_counter()
    members = []
    for i, settings in enumerate(ensemble_members(asdict(cfg))):
        where = out / "members" / f"m{i + 1}"
        log.info("ensemble member %d of %d: %s", i + 1, len(cfg.ensemble), cfg.ensemble[i])
        metrics = train(train_shards, test_shards, where, TrainConfig(**settings), fold=fold, progress=progress)
        members.append((metrics, pd.read_csv(where / "predictions.csv", dtype={"subject": str, "fold": str})))
    first, first_preds = members[0]
    classes = first["classes"]
    cols = [f"p_{c}" for c in classes]
    for i, (_, preds) in enumerate(members[1:], start=2):
        if preds.sample_id.tolist() != first_preds.sample_id.tolist():
            raise FoldError(f"ensemble member {i} tested other samples than member 1")
    probs = np.mean([preds[cols].to_numpy() for _, preds in members], axis=0)
    pred = probs.argmax(1)
    index = {c: i for i, c in enumerate(classes)}
    fold_scores = scores(first_preds.label.map(index).to_numpy(), pred, len(classes), all_classes=False)
    predictions = first_preds.copy()
    predictions["pred"] = [classes[i] for i in pred]
    predictions[cols] = probs
    records = [{"member": i + 1, "settings": dict(cfg.ensemble[i]), "model": m["model"],
                "recipe": (m.get("recipe") or {}).get("name"), "best_epoch": m["best_epoch"],
                "epochs_run": m["epochs_run"], "selection": m["selection"]["rule"], "accuracy": m["accuracy"],
                "uf1": m["uf1"], "uar": m["uar"], "pred": p.pred.tolist()} for i, (m, p) in enumerate(members)]
    cfg_dict = asdict(cfg)
    metrics = {
        **first, "model": "ensemble", "streams": sorted({s for m, _ in members for s in m["streams"]}),
        "accuracy": fold_scores["accuracy"], "uf1": fold_scores["uf1"], "uar": fold_scores["uar"],
        "confusion": fold_scores["confusion"].tolist(),
        "selection": {**first["selection"], "rule": f"ensemble of {len(members)} (mean class probabilities): "
                      + "; ".join(f"member {r['member']}: {r['selection']}" for r in records)},
        "seconds": time.perf_counter() - t_start, "config": cfg_dict, "recipe": recipe_report(cfg_dict),
        "model_settings": [m["model_settings"] for m, _ in members],
        # best_epoch / epochs_run above are member 1's (the per-fold table); each member's are here
        "ensemble": {"members": records},
    }
    with atomic_path(out / "predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False)
    with atomic_path(out / "history.tsv") as tmp:  # member 1's curves (each member's: members/m<i>/history.tsv)
        tmp.write_bytes((out / "members" / "m1" / "history.tsv").read_bytes())
    with atomic_path(out / "model.pt") as tmp:
        torch.save({"members": [torch.load(out / "members" / f"m{i + 1}" / "model.pt", weights_only=True)
                                for i in range(len(members))], "classes": classes, "config": cfg_dict,
                    "fold": first["fold"]}, tmp)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("fold %s: ensemble of %d, test accuracy %.3f, UF1 %.3f (members' UF1 %s)", first["fold"], len(members),
             metrics["accuracy"], metrics["uf1"], ", ".join(f"{r['uf1']:.3f}" for r in records))
    return metrics


def _cross_validate(candidates: list[dict], groups: list[list[str]], train_shards: list[str], out: Path,
                    cfg: TrainConfig, progress: bool, train) -> list[dict]:
    """Each candidate's pooled UF1 over the inner folds (each group of training subjects held out in turn)."""
    records = []
    for c, settings in enumerate(candidates):
        preds, epochs = [], []
        for g, held in enumerate(groups):
            inner_train = [p for p in train_shards if p not in held]
            log.info("choose: candidate %d of %d, inner fold %d of %d", c + 1, len(candidates), g + 1, len(groups))
            where = out / "choose" / f"c{c + 1}" / f"inner{g + 1}"
            m = train(inner_train, held, where, TrainConfig(**settings), fold=f"inner{g + 1}", progress=progress)
            preds.append(pd.read_csv(where / "predictions.csv"))
            epochs.append(int(m["best_epoch"]) + 1)
        inner = pd.concat(preds, ignore_index=True)
        index = {name: i for i, name in enumerate(m["classes"])}
        s = scores(inner.label.map(index).to_numpy(), inner.pred.map(index).to_numpy(), len(index))
        records.append({"candidate": c + 1, "settings": dict(cfg.choose[c]), "inner_uf1": s["uf1"],
                        "inner_accuracy": s["accuracy"], "inner_clips": len(inner), "inner_epochs": epochs})
    return records


def train_choice(train_shards, test_shards, out: Path, cfg: TrainConfig, *, fold: str | None,
                 progress: bool, train) -> dict:
    """``cfg.choose``: each candidate cross-validated over the training subjects only (``choose_folds``
    subject-disjoint groups, each held out in turn, the candidate's own rule choosing its weights inside),
    the one with the best pooled inner UF1 (ties: the first listed) trained on every training subject
    and tested once on the held-out subject(s). A pick that selects its epoch (validation clips or
    subjects) trains for the median of its inner folds' selected epoch counts instead, on all of them."""
    t_start = time.perf_counter()
    train_shards = [str(p) for p in train_shards]
    test_list = [str(test_shards)] if isinstance(test_shards, (str, Path)) else [str(p) for p in test_shards]
    if set(train_shards) & set(test_list):
        raise FoldError(f"held-out shard(s) {sorted(set(train_shards) & set(test_list))} are among the training shards")
    groups = inner_groups(train_shards, cfg.choose_folds, cfg.seed)
    if len(groups) < 2:
        raise FoldError("choose: an inner cross-validation needs at least two training subjects")
    candidates = choose_candidates(asdict(cfg))
    records = _cross_validate(candidates, groups, train_shards, out, cfg, progress, train)
    picked = max(range(len(records)), key=lambda i: (records[i]["inner_uf1"], -i))
    log.info("choose: candidate %d picked (inner UF1 %s)", picked + 1,
             ", ".join(f"{r['inner_uf1']:.3f}" for r in records))
    pick = dict(candidates[picked])
    rule = (f"candidate {picked + 1} of {len(records)} picked by {len(groups)}-fold inner cross-validation over the "
            "training subjects (pooled UF1); ")
    if pick.get("validation", "clips") != "none":
        # a candidate that selects its epoch: the inner folds' median selected epoch count, then every
        # training subject trains for that many epochs (none is held back for a second selection)
        n = int(np.median(records[picked]["inner_epochs"]))
        log.info("choose: the pick trains %d epochs on every training subject (median of the inner folds' %s)",
                 n, records[picked]["inner_epochs"])
        pick.update(validation="none", max_epochs=n)
        rule += f"its epoch count {n} the median of the inner folds' selected epochs; "
    metrics = train(train_shards, test_list, out / "picked", TrainConfig(**pick), fold=fold, progress=progress)
    cfg_dict = asdict(cfg)
    metrics = {**metrics, "config": cfg_dict, "recipe": recipe_report(cfg_dict),
               "selection": {**metrics["selection"], "rule": rule + metrics["selection"]["rule"]},
               "seconds": time.perf_counter() - t_start,
               "choose": {"picked": picked + 1, "candidates": records,
                          "inner_groups": [[Path(p).stem for p in g] for g in groups]}}
    for name in ("predictions.csv", "history.tsv", "model.pt"):
        with atomic_path(out / name) as tmp:
            tmp.write_bytes((out / "picked" / name).read_bytes())
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
