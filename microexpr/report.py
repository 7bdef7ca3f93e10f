"""LOSO aggregation: pooled and per-fold metrics, per-class scores, the confusion matrix, training
curves, the misclassified clips, and one self-contained HTML report that says how the results were
produced; plus ``index.html``, the list of every finished run of one configuration name."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .errors import MicroexprError
from .flow import colour_key
from .io import atomic_path
from .metrics import bootstrap_intervals, scores
from .pages import export_tables, git_commit, image_data_uri, now_utc, png_data_uri, render, table
from .references import references
from .sampleid import SampleId

log = logging.getLogger(__name__)

def source_dataset(sample_ids: pd.Series) -> pd.Series:
    """The dataset of each clip id (:class:`microexpr.sampleid.SampleId`)."""
    return sample_ids.map(lambda s: SampleId.parse(s).dataset)


def aggregate(fold_metrics: list[str | Path], fold_predictions: list[str | Path], protocol: str = "loso") -> dict:
    """Pool every fold's predictions; also the mean and std of the per-fold scores, per-class scores
    per fold, and (for several source datasets) the scores per dataset."""
    if not fold_metrics or len(fold_metrics) != len(fold_predictions):
        raise MicroexprError("aggregate needs one metrics.json and one predictions.csv per fold")
    folds = [json.loads(Path(p).read_text()) for p in fold_metrics]
    classes = folds[0]["classes"]
    for f, path in zip(folds, fold_metrics):
        if f["classes"] != classes:
            raise MicroexprError(f"{path}: classes {f['classes']} differ from {classes}")
        leaked = set(f["test_subjects"]) & set(f["train_subjects"])
        if leaked:
            raise MicroexprError(f"{path}: held-out subject(s) {sorted(leaked)} were training subjects")
    fold_preds = [pd.read_csv(p, dtype={"subject": str, "fold": str}) for p in fold_predictions]
    preds = pd.concat(fold_preds, ignore_index=True)
    if preds.sample_id.duplicated().any():
        raise MicroexprError("a clip was tested in more than one fold")
    index = {c: i for i, c in enumerate(classes)}
    y, p = preds.label.map(index).to_numpy(), preds.pred.map(index).to_numpy()
    pooled = scores(y, p, len(classes))
    per_fold = pd.DataFrame([{"fold": f["fold"], "n": f["n_test"], "accuracy": f["accuracy"],
                              "uf1": f["uf1"], "uar": f["uar"], "best_epoch": f["best_epoch"],
                              "epochs_run": f["epochs_run"], "seconds": round(f["seconds"], 1),
                              **({"picked": f["choose"]["picked"]} if f.get("choose") else {})} for f in folds])
    per_fold_class = []
    for fold, rows in preds.groupby("fold", sort=True):
        s = scores(rows.label.map(index), rows.pred.map(index), len(classes))
        for i, c in enumerate(classes):
            involved = s["support"][i] + s["predicted"][i] > 0  # neither there nor predicted: no F1
            per_fold_class.append({"fold": str(fold), "class": c, "support": int(s["support"][i]),
                                   "f1": float(s["f1"][i]) if involved else None,
                                   "recall": float(s["recall"][i]) if s["support"][i] else None})
    datasets = source_dataset(preds.sample_id)
    per_dataset = {}
    if datasets.nunique() > 1:  # a composite: MEGC reports UF1 and UAR per source dataset as well
        for name in sorted(datasets.unique()):
            rows = (datasets == name).to_numpy()
            d = scores(y[rows], p[rows], len(classes))
            per_dataset[name] = {"n": int(rows.sum()), "accuracy": d["accuracy"], "uf1": d["uf1"], "uar": d["uar"]}
    members = ensemble_members_pooled(folds, fold_preds, y, index, len(classes))
    support = np.bincount(y, minlength=len(classes))
    majority = int(support.argmax())
    baseline = scores(y, np.full_like(y, majority), len(classes))
    return {
        "classes": classes,
        "n_clips": int(len(y)),
        "n_folds": len(folds),
        "protocol": protocol,
        "datasets": sorted(datasets.unique()),
        "pooled": {"accuracy": pooled["accuracy"], "uf1": pooled["uf1"], "uar": pooled["uar"]},
        # 95 % percentile intervals over subjects resampled with replacement (clips of a subject are not independent)
        "pooled_ci": bootstrap_intervals(y, p, preds.subject.astype(str), len(classes)),
        "per_fold_mean": {k: float(per_fold[k].mean()) for k in ("accuracy", "uf1", "uar")},
        "per_fold_std": {k: float(per_fold[k].std(ddof=0)) for k in ("accuracy", "uf1", "uar")},
        "per_class": {c: {"precision": float(pooled["precision"][i]), "recall": float(pooled["recall"][i]),
                          "f1": float(pooled["f1"][i]), "support": int(pooled["support"][i]),
                          "predicted": int(pooled["predicted"][i])} for i, c in enumerate(classes)},
        "confusion": pooled["confusion"].tolist(),
        "chance": {"majority_class": classes[majority], "majority_accuracy": baseline["accuracy"],
                   "majority_uf1": baseline["uf1"], "uniform_accuracy": 1.0 / len(classes)},
        "per_fold": per_fold.to_dict("records"),
        "per_fold_class": per_fold_class,
        "per_dataset": per_dataset,
        "train_config": folds[0]["config"],
        # how each fold's tested weights were chosen, in words (folds written before the rule was recorded:
        # validation clips, or the last epoch where there was no split)
        "selection": sorted({(f.get("selection") or {}).get("rule") or (
            "validation clips of the training subjects" if f.get("early_stopping", True)
            else "last epoch (no validation split)") for f in folds}),
        "device": sorted({f["device"] for f in folds}),
        "processor": sorted({f.get("processor", "not recorded") for f in folds}),
        "torch": folds[0].get("torch"),
        "recipe": folds[0].get("recipe"),
        # an ensemble's members, each pooled over the folds as the ensemble is (None: not an ensemble)
        "ensemble_members": members,
        # train.choose: the candidates and how many folds picked each (by inner CV on training subjects)
        "choose": {"candidates": [c["settings"] for c in folds[0]["choose"]["candidates"]],
                   "picked": [sum(f["choose"]["picked"] == i + 1 for f in folds)
                              for i in range(len(folds[0]["choose"]["candidates"]))]}
        if all(f.get("choose") for f in folds) else None,
        "microexpr": __version__,
    }


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_figure(result: dict, out: str | Path) -> Path:
    plt = _figure()
    cm = np.array(result["confusion"], float)
    classes = result["classes"]
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2.2, 1.0 * len(classes) + 1.6))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{int(cm[i, j])}\n{rows[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if rows[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    p = result["pooled"]
    ax.set_title(f"{result.get('protocol', 'loso').upper()}, {result['n_clips']} clips: acc {p['accuracy']:.3f}, UF1 {p['uf1']:.3f}, UAR {p['uar']:.3f}",
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(out)


def curves_figure(histories: dict[str, pd.DataFrame], best_epochs: dict[str, int], out: str | Path) -> Path:
    """One fold a row, readable at the page's width (1000 px): training and validation loss on the left,
    validation UF1 on the right, both against the epoch, with the epoch whose weights were tested dashed.
    A hand-crafted method's row shows its inner cross-validation UF1 per SVM C instead, the C used dashed."""
    plt = _figure()
    n = max(len(histories), 1)
    svm = any("c" in h.columns for h in histories.values())
    cols = 1 if svm else 2
    fig, axes = plt.subplots(n, cols, figsize=(10, 1.9 * n + 0.5), squeeze=False)
    for row, (fold, h) in zip(axes, histories.items()):
        if "c" in h.columns:  # a hand-crafted method: the inner cross-validation's UF1 per SVM C
            ax = row[0]
            if "inner_uf1" in h.columns:
                ax.plot(h.c, h.inner_uf1, color="#2ca02c", lw=1.2, marker=".", ls=":")
            ax.set_xscale("log")
            ax.set_ylim(0, 1)
            chosen = h.c[h.chosen.astype(bool)] if "chosen" in h.columns else h.c[:1]
            for c in chosen:
                ax.axvline(c, color="#d62728", lw=1, ls="--")
            ax.set_title(f"{fold}: C used {', '.join(f'{c:g}' for c in chosen)}", fontsize=9, loc="left")
            ax.set_xlabel("SVM C", fontsize=8)
            ax.set_ylabel("inner UF1", fontsize=8)
            ax.tick_params(labelsize=8)
            continue
        loss, uf1 = row
        loss.plot(h.epoch, h.train_loss, color="#1f77b4", lw=1.2)
        if h.val_loss.notna().any():
            loss.plot(h.epoch, h.val_loss, color="#ff7f0e", lw=1.2)
        if h.val_uf1.notna().any():
            uf1.plot(h.epoch, h.val_uf1, color="#2ca02c", lw=1.2)
        uf1.set_ylim(0, 1)
        best = best_epochs.get(fold)
        for ax in row:
            if best is not None and best >= 0:
                ax.axvline(best, color="#d62728", lw=1, ls="--")
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=8)
        loss.set_ylabel("cross-entropy loss", fontsize=8)
        uf1.set_ylabel("validation UF1", fontsize=8)
        tested = f"epoch {best} tested" if best is not None and best >= 0 else "last epoch tested"
        loss.set_title(f"{fold}: {tested}", fontsize=9, loc="left")
    colours = ((("#2ca02c", ":"), ("#d62728", "--")) if svm else
               (("#1f77b4", "-"), ("#ff7f0e", "-"), ("#2ca02c", "-"), ("#d62728", "--")))
    handles = [plt.Line2D([], [], color=c, ls=ls) for c, ls in colours]
    labels = (["inner cross-validation UF1 (training subjects) per SVM C", "C used"] if svm else
              ["train loss", "validation loss", "validation UF1", "epoch tested"])
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (1.9 * n + 0.5)))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(out)


def _resized(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    img = np.clip(img, 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img
    return cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _onsets(rows: pd.DataFrame, flows: list[str | Path] | None) -> dict[str, np.ndarray]:
    """The magnified onset frame of each clip of ``rows`` (by sample id), from its subject's flow file."""
    import h5py

    wanted, found = set(rows.sample_id), {}
    for path in flows or []:
        with h5py.File(path, "r") as h5:
            for g in h5.values():
                sid = str(g.attrs.get("sample_id", ""))
                if sid in wanted:
                    found[sid] = g["onset"][()]
    return found


def _with_images(rows: pd.DataFrame, shards: list[str | Path], aus: dict, alt: str,
                 flows: list[str | Path] | None = None) -> list[dict]:
    """Gallery entries of prediction rows: each clip's onset (from ``flows``, where given), flow image,
    apex, mask and masked apex thumbnails from the un-augmented samples of its subject's shard, true and
    predicted class with both probabilities."""
    import h5py

    from .preprocess import read_shard

    by_subject = {}
    for path in shards:
        with h5py.File(path, "r") as h5:
            by_subject[str(h5.attrs["subject"])] = path
    onsets = _onsets(rows, flows)
    cache, out = {}, []
    for row in rows.itertuples():
        path = by_subject.get(str(row.subject))
        images = {}
        if path is not None:
            if path not in cache:
                try:
                    cache[path] = read_shard(path, streams=("flow", "gray", "mask", "masked"))
                except MicroexprError:  # a shard without the mask streams: the other two
                    cache[path] = read_shard(path, streams=("flow", "gray"))
            shard = cache[path]
            hit = np.flatnonzero(shard["sample_id"] == row.sample_id)
            if len(hit):
                size = shard["gray"].shape[1:3]
                onset = onsets.get(row.sample_id)
                images = {"flow": image_data_uri(shard["flow"][hit[0]], 104),
                          "apex": image_data_uri(shard["gray"][hit[0]], 104),
                          "mask": image_data_uri(shard["mask"][hit[0]], 104) if "mask" in shard else None,
                          "masked": image_data_uri(shard["masked"][hit[0]], 104) if "masked" in shard else None,
                          # resized as the apex was (clip_streams), so onset and apex compare at a glance
                          "onset": image_data_uri(_resized(onset, size), 104) if onset is not None else None}
        out.append({"sample_id": row.sample_id, "fold": row.fold, "label": row.label, "pred": row.pred,
                    "p_pred": float(getattr(row, f"p_{row.pred}")), "p_true": float(getattr(row, f"p_{row.label}")),
                    "action_units": "+".join(aus.get(row.sample_id, [])), "alt": alt, **images})
    return out


def _action_units(manifest: str | Path | None) -> dict:
    from .datasets.manifest import action_units, read_manifest

    if manifest is None:
        return {}
    table = read_manifest(manifest)
    if "action_units" not in table.columns:
        return {}
    return {sid: action_units(cell) for sid, cell in zip(table.sample_id, table.action_units)}


def _predictions(fold_predictions: list[str | Path]) -> pd.DataFrame:
    preds = pd.concat([pd.read_csv(p, dtype={"subject": str, "fold": str}) for p in fold_predictions],
                      ignore_index=True)
    preds["p_pred"] = [row[f"p_{row.pred}"] for _, row in preds.iterrows()]
    return preds


def misclassified(fold_predictions: list[str | Path], shards: list[str | Path], limit: int = 24,
                  manifest: str | Path | None = None, flows: list[str | Path] | None = None) -> list[dict]:
    """The most confident mistakes (up to ``limit``), each with its flow image, apex and masked apex
    thumbnails from the un-augmented samples of its subject's shard (with the subjects' flow files
    ``flows``, its magnified onset frame too; with the run's ``manifest``, the action units its coding
    sheet gives)."""
    preds = _predictions(fold_predictions)
    wrong = preds[preds.label != preds.pred].sort_values("p_pred", ascending=False).head(limit)
    return _with_images(wrong, shards, _action_units(manifest), "flow image", flows) if len(wrong) else []


def correct_examples(fold_predictions: list[str | Path], shards: list[str | Path],
                     manifest: str | Path | None = None, flows: list[str | Path] | None = None) -> list[dict]:
    """The most confident correct clip of each class (classes never predicted right have none), as
    :func:`misclassified` shows them."""
    preds = _predictions(fold_predictions)
    right = preds[preds.label == preds.pred].sort_values("p_pred", ascending=False).drop_duplicates("label")
    right = right.sort_values("label")
    return _with_images(right, shards, _action_units(manifest), "flow image (correct)", flows) if len(right) else []


def is_synthetic(dataset: dict, datasets: list[str]) -> bool:
    """Whether any part of the run's data is synthetic: no root (generated by the workflow), a composite
    root mapping that leaves a dataset out, or a root that holds the generator's ground truth."""
    roots = dataset.get("root")
    if roots is None or (isinstance(roots, dict) and len(roots) < len(datasets)):
        return True
    for root in (roots.values() if isinstance(roots, dict) else [roots]):
        if (Path(root) / "ground_truth" / "clips.tsv").is_file():
            return True
    return False


def data_tables(manifest: str | Path | None, manifest_report: str | Path | None,
                classes: list[str]) -> dict[str, pd.DataFrame | None]:
    """What the run's data held and lost: clips per subject and class (the run's classes, from the
    manifest) and every sheet row the manifest dropped or repaired, with its code and reason."""
    from .datasets.manifest import read_manifest

    out: dict[str, pd.DataFrame | None] = {"clips_per_subject": None, "rows_dropped_or_repaired": None}
    if manifest is not None and Path(manifest).is_file():
        m = read_manifest(manifest)
        m = m[m.label.isin(classes)]
        keys = ["dataset", "subject"] if "dataset" in m.columns and m.dataset.nunique() > 1 else ["subject"]
        counts = m.groupby(keys + ["label"]).size().unstack("label", fill_value=0)
        counts = counts.reindex(columns=classes, fill_value=0)
        counts["clips"] = counts.sum(axis=1)
        out["clips_per_subject"] = counts.reset_index()
    if manifest_report is not None and Path(manifest_report).is_file():
        rep = pd.read_csv(manifest_report, sep="\t", dtype=str, keep_default_na=False)
        cols = [c for c in ("dataset", "sheet_row", "subject", "clip", "action", "code", "reason") if c in rep.columns]
        out["rows_dropped_or_repaired"] = rep[cols]
    return out


def report_tables(result: dict) -> dict[str, pd.DataFrame | None]:
    """The report's tables of numbers, by name (also exported as CSV and LaTeX)."""
    per_fold_class = pd.DataFrame(result.get("per_fold_class") or [])
    if not per_fold_class.empty:
        f1 = per_fold_class.pivot(index="fold", columns="class", values="f1")[result["classes"]].reset_index()
        f1.columns = ["fold"] + [f"F1 {c}" for c in result["classes"]]
    else:
        f1 = None
    pooled = {"": "pooled", **{k: result["pooled"][k] for k in ("accuracy", "uf1", "uar")}}
    ci = result.get("pooled_ci") or {}
    for k in ("accuracy", "uf1", "uar"):
        if k in ci:
            pooled[f"{k} 95% low"], pooled[f"{k} 95% high"] = ci[k][0], ci[k][1]
    return {
        "pooled": pd.DataFrame([pooled]),
        "per_class": pd.DataFrame([{"class": c, **v} for c, v in result["per_class"].items()]),
        "per_dataset": pd.DataFrame([{"dataset": k, **v} for k, v in result["per_dataset"].items()])
        if result.get("per_dataset") else None,
        "per_fold": pd.DataFrame(result["per_fold"]),
        "per_fold_class_f1": f1,
        "ensemble_members": pd.DataFrame(
            [{"": "ensemble (mean probabilities)", "settings": "", **{k: result["pooled"][k] for k in ("accuracy", "uf1", "uar")}}]
            + [{"": f"member {m['member']}", "settings": json.dumps(m["settings"], sort_keys=True),
                **{k: m[k] for k in ("accuracy", "uf1", "uar")}} for m in result["ensemble_members"]])
        if result.get("ensemble_members") else None,
    }


def html_report(result: dict, confusion_png: str | Path, out: str | Path, *, config: dict | None = None,
                title: str = "microexpr LOSO report", curves_png: str | Path | None = None,
                gallery: list[dict] | None = None, tables_dir: str | Path | None = None,
                data: dict[str, pd.DataFrame | None] | None = None, correct: list[dict] | None = None) -> Path:
    """One self-contained HTML page (images embedded) with the metrics and how they were made; with
    ``tables_dir``, its tables also as CSV and LaTeX there (:func:`microexpr.pages.export_tables`)."""
    import yaml

    dataset = (config or {}).get("dataset") or {}
    synthetic = bool(dataset) and is_synthetic(dataset, result["datasets"])
    train = (config or {}).get("train") or {}
    streams = train.get("streams") if train.get("model", "mscnn") == "mscnn" else None
    reference = references(result.get("protocol", "loso"), result["datasets"], dataset.get("classes"),
                           result["classes"], streams) if dataset else None
    tables = {**report_tables(result), **(data or {})}
    if tables_dir:
        export_tables(tables, tables_dir)
    lost = tables.get("rows_dropped_or_repaired")
    if lost is not None and not lost.empty:
        tables["lost_summary"] = lost.groupby(["action", "code"]).size().rename("rows").reset_index()
    # page tables: scores to 3 places, times to 1
    shown = {k: table(v, formats={"seconds": "{:.1f}"}) for k, v in tables.items() if v is not None and not v.empty}
    provenance = {
        "created": result.get("created") or now_utc(), "microexpr": result["microexpr"], "torch": result.get("torch"),
        "device": ", ".join(result["device"]),
        "processor": ", ".join(result.get("processor", [])), "git commit": result.get("git_commit") or git_commit(),
        "folds": result["n_folds"], "clips": result["n_clips"], "weights tested": "; ".join(result.get("selection", [])),
        "recipe": recipe_text(result.get("recipe")),
    }
    if result.get("choose"):
        provenance["choice"] = "; ".join(
            f"candidate {i + 1} {json.dumps(c, sort_keys=True)}: picked in {n} of {result['n_folds']} folds"
            for i, (c, n) in enumerate(zip(result["choose"]["candidates"], result["choose"]["picked"])))
    return render(
        "report.html.j2", out, title=title, result=result, synthetic=synthetic, reference=reference,
        lodo=result.get("protocol") == "lodo",
        cards=[(label, key) for label, key in (("Accuracy", "accuracy"), ("UF1 (macro-F1)", "uf1"), ("UAR", "uar"))],
        confusion=png_data_uri(confusion_png), curves=png_data_uri(curves_png) if curves_png else None,
        per_class=shown["per_class"], per_dataset=shown.get("per_dataset"), per_fold=shown["per_fold"],
        per_fold_class=shown.get("per_fold_class_f1"), members=shown.get("ensemble_members"),
        data_available=data is not None, clips_per_subject=shown.get("clips_per_subject"),
        lost=shown.get("rows_dropped_or_repaired"), lost_summary=shown.get("lost_summary"),
        gallery=gallery or [], correct=correct or [], flow_key=image_data_uri(colour_key(96)),
        provenance=table(pd.DataFrame([{"item": k, "value": str(v)} for k, v in provenance.items()])),
        train_config=yaml.safe_dump(result["train_config"], sort_keys=False),
        workflow_config=yaml.safe_dump(config or {}, sort_keys=False),
    )


def ensemble_members_pooled(folds: list[dict], fold_preds: list[pd.DataFrame], y: np.ndarray,
                            index: dict[str, int], n_classes: int) -> list[dict] | None:
    """Each ensemble member's pooled scores (its own predictions of every fold's test clips)."""
    if not all(f.get("ensemble") for f in folds):
        return None
    n = len(folds[0]["ensemble"]["members"])
    if any(len(f["ensemble"]["members"]) != n for f in folds):
        raise MicroexprError("the folds' ensembles have different numbers of members")
    rows = []
    for j in range(n):
        pred = []
        for f, p in zip(folds, fold_preds):
            member = f["ensemble"]["members"][j]
            if len(member["pred"]) != len(p):
                raise MicroexprError(f"fold {f['fold']}: member {j + 1} predicted {len(member['pred'])} clips, "
                                     f"the fold tested {len(p)}")
            pred += member["pred"]
        s = scores(y, np.array([index[c] for c in pred]), n_classes)
        first = folds[0]["ensemble"]["members"][j]
        rows.append({"member": j + 1, "settings": first["settings"], "model": first["model"],
                     "recipe": first.get("recipe"), "accuracy": s["accuracy"], "uf1": s["uf1"], "uar": s["uar"]})
    return rows


def recipe_text(recipe: dict | None) -> str:
    """A fold's recipe record in words: its name, the values it set, and what the configuration overrode."""
    if not recipe:
        return "none (the configuration's own settings)"
    text = f"{recipe['name']}: " + ", ".join(f"{k} {v['value']}" for k, v in recipe["set"].items())
    if recipe.get("overridden"):
        text += "; overridden by the configuration: " + ", ".join(
            f"{k} {v['used']} (recipe {v['recipe']})" for k, v in recipe["overridden"].items())
    return text


def write_aggregate(fold_metrics, fold_predictions, *, metrics_json, per_fold_tsv, per_class_tsv, confusion_png,
                    report_html, config: dict | None = None, title: str = "microexpr LOSO report",
                    protocol: str = "loso", histories: list[str | Path] | None = None,
                    curves_png: str | Path | None = None, shards: list[str | Path] | None = None,
                    index_html: str | Path | None = None, manifest: str | Path | None = None,
                    tables_dir: str | Path | None = None, manifest_report: str | Path | None = None,
                    flows: list[str | Path] | None = None, tags: dict | None = None,
                    params_yaml: str | Path | None = None) -> dict:
    """Everything rule ``aggregate`` writes; with ``index_html`` the run list of the configuration
    name is rebuilt too (its folder is the parent of ``index_html``); with ``tables_dir`` the report's
    tables as CSV and LaTeX; with the subjects' flow files ``flows`` the gallery shows each clip's onset.
    ``tags``: the run's variant folders, ``{kind: {"tag": folder name, "settings": what its hash is
    of}}`` for ``evm``, ``flow``, ``images`` and ``model``: metrics.json records the names (the run
    index reads them there, not from the folder's path) and ``params_yaml`` both."""
    result = aggregate(fold_metrics, fold_predictions, protocol)
    result["created"], result["git_commit"] = now_utc(), git_commit()
    if tags:
        result["tags"] = {kind: t["tag"] for kind, t in tags.items()}
    with atomic_path(metrics_json) as tmp:
        tmp.write_text(json.dumps({**result, "config": config}, indent=2) + "\n")
    if params_yaml:
        write_params(params_yaml, tags or {}, protocol)
    with atomic_path(per_fold_tsv) as tmp:
        pd.DataFrame(result["per_fold"]).to_csv(tmp, sep="\t", index=False)
    with atomic_path(per_class_tsv) as tmp:
        pd.DataFrame([{"class": c, **v} for c, v in result["per_class"].items()]).to_csv(tmp, sep="\t", index=False)
    confusion_figure(result, confusion_png)
    if histories and curves_png:  # result["per_fold"] is in the order of fold_metrics (and histories)
        curves = {str(f["fold"]): pd.read_csv(h, sep="\t") for f, h in zip(result["per_fold"], histories)}
        curves_figure(curves, {str(f["fold"]): f["best_epoch"] for f in result["per_fold"]}, curves_png)
    gallery = misclassified(fold_predictions, shards, manifest=manifest, flows=flows) if shards else []
    correct = correct_examples(fold_predictions, shards, manifest=manifest, flows=flows) if shards else []
    data = data_tables(manifest, manifest_report, result["classes"]) if manifest or manifest_report else None
    html_report(result, confusion_png, report_html, config=config, title=title,
                curves_png=curves_png if histories else None, gallery=gallery, correct=correct,
                tables_dir=tables_dir, data=data)
    if index_html:
        write_index(Path(index_html).parent, index_html)
    return result


def write_params(out: str | Path, tags: dict, protocol: str) -> Path:
    """``params.yaml``: each variant tag of a run (its folder name) with the settings behind its hash,
    and the protocol."""
    import yaml

    doc = {kind: {"tag": t["tag"], "settings": t["settings"]} for kind, t in tags.items()}
    with atomic_path(out) as tmp:
        tmp.write_text(yaml.safe_dump({**doc, "protocol": protocol}, sort_keys=False))
    return Path(out)


def _variant_settings(result: dict) -> str:
    """The settings behind a run's variant hashes, as YAML: the EVM, flow and image sections of its
    configuration and the training settings its folds used."""
    import yaml

    config = result.get("config") or {}
    shown = {k: config[k] for k in ("evm", "flow", "images") if k in config}
    if result.get("train_config"):
        shown["train"] = result["train_config"]
    return yaml.safe_dump(shown, sort_keys=False) if shown else ""


def runs_table(name_dir: str | Path) -> pd.DataFrame:
    """Every finished run under ``results/<name>/reports`` (one row per aggregate metrics.json)."""
    name_dir = Path(name_dir)
    rows = []
    for path in sorted((name_dir / "reports").rglob("metrics.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("index: skipping unreadable %s (%s)", path, exc)
            continue
        tags = dict(result.get("tags") or {})
        if not tags:  # a run written before metrics.json named its tags: evm/flow/images/model/protocol
            parts = path.parent.relative_to(name_dir / "reports").parts
            tags = dict(zip(("evm", "flow", "images", "model"), parts), protocol=parts[-1] if parts else "")
        rows.append({
            **{k: tags.get(k, "") for k in ("evm", "flow", "images", "model")},
            "protocol": result.get("protocol", tags.get("protocol", "")),
            "uf1": result["pooled"]["uf1"], "uar": result["pooled"]["uar"], "accuracy": result["pooled"]["accuracy"],
            "uf1_ci": (result.get("pooled_ci") or {}).get("uf1"),
            "folds": result["n_folds"], "clips": result["n_clips"],
            "fold_uf1_mean": (result.get("per_fold_mean") or {}).get("uf1"),
            "fold_uf1_std": (result.get("per_fold_std") or {}).get("uf1"),
            "majority_uf1": (result.get("chance") or {}).get("majority_uf1"),
            "majority_accuracy": (result.get("chance") or {}).get("majority_accuracy"),
            "created": result.get("created", ""), "git_commit": result.get("git_commit", ""),
            "report": os.path.relpath(path.parent / "report.html", name_dir),
            "final_model": os.path.relpath(path.parent / "final_model.pt", name_dir)
            if (path.parent / "final_model.pt").is_file() else "",
            "settings": _variant_settings(result),
        })
    return pd.DataFrame(rows)


def write_index(name_dir: str | Path, out: str | Path | None = None) -> Path:
    """``results/<name>/index.html``: every finished run of that name, newest first, with links."""
    import fcntl

    name_dir = Path(name_dir)
    out = Path(out or name_dir / "index.html")
    name_dir.mkdir(parents=True, exist_ok=True)
    with open(name_dir / ".index.lock", "w") as lock:  # two runs finishing together: one writes at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs = runs_table(name_dir)
        if not runs.empty:
            runs = runs.sort_values("created", ascending=False)
        studies = sorted(p.parent.name for p in (name_dir / "experiments").glob("*/report.html"))
        render("index.html.j2", out, title=f"{name_dir.name}: runs", name=name_dir.name,
               runs=runs.to_dict("records"), studies=studies, updated=now_utc())
    return out
