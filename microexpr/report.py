"""LOSO aggregation: pooled and per-fold metrics, per-class scores, the confusion matrix, training
curves, the gallery of clips (:mod:`microexpr.gallery`), and one self-contained HTML report that says how
the results were produced. The list of every finished run of a name is :mod:`microexpr.runindex`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .errors import MicroexprError
from .flow import colour_key
from .io import atomic_path
from .metrics import bootstrap_intervals, scores
from .plots import confusion_figure, curves_figure
from .pages import export_tables, git_commit, image_data_uri, now_utc, png_data_uri, render, table
from .references import references
from .runindex import write_index
from .gallery import correct_examples, misclassified
from .sampleid import SampleId

log = logging.getLogger(__name__)

def source_dataset(sample_ids: pd.Series) -> pd.Series:
    """The dataset of each clip id (:class:`microexpr.sampleid.SampleId`)."""
    return sample_ids.map(lambda s: SampleId.parse(s).dataset)


def _read_folds(fold_metrics: list[str | Path]) -> list[dict]:
    """The folds' metrics, checked to share their classes and to have tested no training subject."""
    folds = [json.loads(Path(p).read_text()) for p in fold_metrics]
    for f, path in zip(folds, fold_metrics):
        if f["classes"] != folds[0]["classes"]:
            raise MicroexprError(f"{path}: classes {f['classes']} differ from {folds[0]['classes']}")
        leaked = set(f["test_subjects"]) & set(f["train_subjects"])
        if leaked:
            raise MicroexprError(f"{path}: held-out subject(s) {sorted(leaked)} were training subjects")
    return folds


def _per_fold_class(preds: pd.DataFrame, classes: list[str]) -> list[dict]:
    """F1 and recall of each class in each fold (None where a class was neither there nor predicted)."""
    index, out = {c: i for i, c in enumerate(classes)}, []
    for fold, rows in preds.groupby("fold", sort=True):
        s = scores(rows.label.map(index), rows.pred.map(index), len(classes))
        for i, c in enumerate(classes):
            involved = s["support"][i] + s["predicted"][i] > 0
            out.append({"fold": str(fold), "class": c, "support": int(s["support"][i]),
                        "f1": float(s["f1"][i]) if involved else None,
                        "recall": float(s["recall"][i]) if s["support"][i] else None})
    return out


def _per_dataset(datasets: pd.Series, y: np.ndarray, p: np.ndarray, n_classes: int) -> dict:
    """A composite's scores per source dataset (as MEGC reports them); empty for one dataset."""
    out = {}
    for name in sorted(datasets.unique()) if datasets.nunique() > 1 else []:
        rows = (datasets == name).to_numpy()
        d = scores(y[rows], p[rows], n_classes)
        out[name] = {"n": int(rows.sum()), "accuracy": d["accuracy"], "uf1": d["uf1"], "uar": d["uar"]}
    return out


def aggregate(fold_metrics: list[str | Path], fold_predictions: list[str | Path], protocol: str = "loso") -> dict:
    """Pool every fold's predictions; also the mean and std of the per-fold scores, per-class scores
    per fold, and (for several source datasets) the scores per dataset."""
    if not fold_metrics or len(fold_metrics) != len(fold_predictions):
        raise MicroexprError("aggregate needs one metrics.json and one predictions.csv per fold")
    folds = _read_folds(fold_metrics)
    classes = folds[0]["classes"]
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
    datasets = source_dataset(preds.sample_id)
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
        "per_fold_class": _per_fold_class(preds, classes),
        "per_dataset": _per_dataset(datasets, y, p, len(classes)),
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
