"""LOSO aggregation: pooled and per-fold metrics, per-class scores, the confusion matrix, and one
self-contained HTML report that says how the results were produced."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .errors import MicroexprError
from .io import atomic_path
from .metrics import scores

# The MSCNN paper's LOSO results, shown for reference next to real-data runs.
PAPER = {"casme2": {"accuracy": 0.5650, "uf1": 0.5325}, "samm": {"accuracy": 0.4304, "uf1": 0.3569}}


def aggregate(fold_metrics: list[str | Path], fold_predictions: list[str | Path], protocol: str = "loso") -> dict:
    """Pool every fold's predictions; also the mean and std of the per-fold scores."""
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
    preds = pd.concat([pd.read_csv(p, dtype={"subject": str}) for p in fold_predictions], ignore_index=True)
    if preds.sample_id.duplicated().any():
        raise MicroexprError("a clip was tested in more than one fold")
    index = {c: i for i, c in enumerate(classes)}
    y, p = preds.label.map(index).to_numpy(), preds.pred.map(index).to_numpy()
    pooled = scores(y, p, len(classes))
    per_fold = pd.DataFrame([{"fold": f["fold"], "n": f["n_test"], "accuracy": f["accuracy"],
                              "uf1": f["uf1"], "uar": f["uar"], "best_epoch": f["best_epoch"],
                              "epochs_run": f["epochs_run"], "seconds": round(f["seconds"], 1)} for f in folds])
    datasets = preds.sample_id.str.split("/").str[0]
    per_dataset = {}
    if datasets.nunique() > 1:  # a composite: MEGC reports UF1 and UAR per source dataset as well
        for name in sorted(datasets.unique()):
            rows = (datasets == name).to_numpy()
            d = scores(y[rows], p[rows], len(classes))
            per_dataset[name] = {"n": int(rows.sum()), "accuracy": d["accuracy"], "uf1": d["uf1"], "uar": d["uar"]}
    support = np.bincount(y, minlength=len(classes))
    majority = int(support.argmax())
    baseline = scores(y, np.full_like(y, majority), len(classes))
    return {
        "classes": classes,
        "n_clips": int(len(y)),
        "n_folds": len(folds),
        "protocol": protocol,
        "pooled": {"accuracy": pooled["accuracy"], "uf1": pooled["uf1"], "uar": pooled["uar"]},
        "per_fold_mean": {k: float(per_fold[k].mean()) for k in ("accuracy", "uf1", "uar")},
        "per_fold_std": {k: float(per_fold[k].std(ddof=0)) for k in ("accuracy", "uf1", "uar")},
        "per_class": {c: {"precision": float(pooled["precision"][i]), "recall": float(pooled["recall"][i]),
                          "f1": float(pooled["f1"][i]), "support": int(pooled["support"][i]),
                          "predicted": int(pooled["predicted"][i])} for i, c in enumerate(classes)},
        "confusion": pooled["confusion"].tolist(),
        "chance": {"majority_class": classes[majority], "majority_accuracy": baseline["accuracy"],
                   "majority_uf1": baseline["uf1"], "uniform_accuracy": 1.0 / len(classes)},
        "per_fold": per_fold.to_dict("records"),
        "per_dataset": per_dataset,
        "train_config": folds[0]["config"],
        "device": sorted({f["device"] for f in folds}),
        "torch": folds[0].get("torch"),
        "microexpr": __version__,
    }


def confusion_figure(result: dict, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _git_commit(cwd: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _table(df: pd.DataFrame, floats: str = "{:.3f}") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for _, row in df.iterrows():
        cells = []
        for v in row:
            text = floats.format(v) if isinstance(v, float) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_report(result: dict, confusion_png: str | Path, out: str | Path, *, config: dict | None = None,
                title: str = "microexpr LOSO report", extra_figures: list[tuple[str, str | Path]] = ()) -> Path:
    """One self-contained HTML page (images embedded) with the metrics and how they were made."""
    import yaml

    p, m, s = result["pooled"], result["per_fold_mean"], result["per_fold_std"]
    chance = result["chance"]
    dataset = (config or {}).get("dataset", {})
    synthetic = dataset.get("root") is None if dataset else False
    paper = PAPER.get(dataset.get("format", "")) if dataset and not synthetic else None
    per_class = pd.DataFrame([{"class": c, **v} for c, v in result["per_class"].items()])
    per_fold = pd.DataFrame(result["per_fold"])
    cards = "".join(
        f"<div class='card'><div class='k'>{k}</div><div class='v'>{p[key]:.3f}</div>"
        f"<div class='s'>per fold {m[key]:.3f} &plusmn; {s[key]:.3f}</div></div>"
        for k, key in (("Accuracy", "accuracy"), ("UF1 (macro-F1)", "uf1"), ("UAR", "uar")))
    paper_line = (f"<p>Paper (MSCNN) on this dataset: accuracy {paper['accuracy']:.4f}, F1 {paper['uf1']:.4f}.</p>"
                  if paper else "")
    data_note = ("<p class='warn'>Synthetic data (generated by microexpr); these figures say the pipeline works, "
                 "not how well the method recognises real micro-expressions.</p>" if synthetic else "")
    figures = "".join(f"<h2>{html.escape(t)}</h2><img src='{_png_data_uri(Path(f))}' alt='{html.escape(t)}'>"
                      for t, f in extra_figures)
    provenance = {
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "microexpr": result["microexpr"], "torch": result.get("torch"), "device": ", ".join(result["device"]),
        "git commit": _git_commit(Path(__file__).resolve().parent),
        "folds": result["n_folds"], "clips": result["n_clips"],
    }
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; color: #222; padding: 0 1em; }}
h1 {{ font-size: 1.6em; margin-bottom: .2em; }} h2 {{ margin-top: 1.6em; border-bottom: 1px solid #ddd; }}
.cards {{ display: flex; gap: 1em; flex-wrap: wrap; }}
.card {{ border: 1px solid #ccd; border-radius: 8px; padding: .8em 1.2em; min-width: 200px; background: #f7f8fc; }}
.k {{ color: #555; font-size: .9em; }} .v {{ font-size: 2em; font-weight: 600; }} .s {{ color: #555; font-size: .85em; }}
table {{ border-collapse: collapse; margin: .5em 0; font-size: .9em; }}
th, td {{ border: 1px solid #ddd; padding: .3em .6em; text-align: right; }} th {{ background: #eef; }}
td:first-child, th:first-child {{ text-align: left; }}
.warn {{ background: #fff4d6; border: 1px solid #e6c36a; padding: .5em .8em; border-radius: 6px; }}
pre {{ background: #f4f4f4; padding: .8em; overflow-x: auto; font-size: .85em; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{"Leave-one-dataset-out" if result.get("protocol") == "lodo" else "Leave-one-subject-out"} over {result['n_folds']} folds, {result['n_clips']} clips. Pooled over all folds;
per-fold mean &plusmn; std below each figure. Early stopping used validation clips of the training subjects only.</p>
{data_note}
<div class="cards">{cards}</div>
<p>Chance: always predicting the majority class ({html.escape(chance['majority_class'])}) gives accuracy
{chance['majority_accuracy']:.3f} and UF1 {chance['majority_uf1']:.3f}; guessing uniformly gives accuracy
{chance['uniform_accuracy']:.3f}.</p>
{paper_line}
<h2>Confusion matrix (pooled)</h2>
<img src="{_png_data_uri(Path(confusion_png))}" alt="confusion matrix">
<h2>Per class (pooled)</h2>
<p>A class never predicted counts with F1 = 0.</p>
{_table(per_class)}
{"<h2>Per source dataset (pooled over its clips)</h2>" + _table(pd.DataFrame([{"dataset": k, **v} for k, v in result["per_dataset"].items()])) if result.get("per_dataset") else ""}
<h2>Per fold (held-out {"dataset" if result.get("protocol") == "lodo" else "subject"})</h2>
{_table(per_fold)}
{figures}
<h2>How this was produced</h2>
{_table(pd.DataFrame([{"item": k, "value": str(v)} for k, v in provenance.items()]))}
<h3>Training configuration</h3>
<pre>{html.escape(yaml.safe_dump(result['train_config'], sort_keys=False))}</pre>
<h3>Workflow configuration</h3>
<pre>{html.escape(yaml.safe_dump(config or {}, sort_keys=False))}</pre>
</body></html>
"""
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(out)


def write_aggregate(fold_metrics, fold_predictions, *, metrics_json, per_fold_tsv, per_class_tsv, confusion_png,
                    report_html, config: dict | None = None, title: str = "microexpr LOSO report",
                    protocol: str = "loso") -> dict:
    result = aggregate(fold_metrics, fold_predictions, protocol)
    with atomic_path(metrics_json) as tmp:
        tmp.write_text(json.dumps({**result, "config": config}, indent=2) + "\n")
    with atomic_path(per_fold_tsv) as tmp:
        pd.DataFrame(result["per_fold"]).to_csv(tmp, sep="\t", index=False)
    with atomic_path(per_class_tsv) as tmp:
        pd.DataFrame([{"class": c, **v} for c, v in result["per_class"].items()]).to_csv(tmp, sep="\t", index=False)
    confusion_figure(result, confusion_png)
    html_report(result, confusion_png, report_html, config=config, title=title)
    return result
