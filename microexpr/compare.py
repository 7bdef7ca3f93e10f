"""Studies over variants (EVM alpha, over-sampler, input streams), each a LOSO run repeated over seeds:
the table of runs, mean and std per variant, the paired difference to a reference variant, a figure and
one self-contained HTML page that says how every number was produced.

The seeds are the only source of the error bars: a variant's spread is the sample standard deviation
of its pooled scores over the seeds (0 with one seed). The difference to the reference is paired by
seed (same seed, same validation split and initialisation draw), which removes much of that noise.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import MicroexprError
from .io import atomic_path
from .pages import git_commit, now_utc, png_data_uri, render
from .pages import export_tables
from .pages import table as pages_table
from .references import paper_figure
from .studies import study as get_study

METRICS = (("accuracy", "Accuracy"), ("uf1", "UF1 (macro-F1)"), ("uar", "UAR"))

def collect(runs: list[dict], classes=None) -> pd.DataFrame:
    """One row per run: its variant, seed, pooled and per-fold scores, chance levels and cost (and,
    for a run that stands for a row of the MSCNN paper, its published figures where they apply;
    ``classes``: the configured ``dataset.classes``)."""
    if not runs:
        raise MicroexprError("a comparison needs at least one run")
    rows = []
    for run in runs:
        path = Path(run["metrics"])
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MicroexprError(f"{path}: cannot read the run's metrics ({exc})") from None
        rows.append({
            "variant": run["variant"], "value": run["value"], "seed": int(run["seed"]),
            **{k: result["pooled"][k] for k, _ in METRICS},
            **{f"fold_{k}": result["per_fold_mean"][k] for k, _ in METRICS},
            "n_clips": result["n_clips"], "n_folds": result["n_folds"],
            "majority_accuracy": result["chance"]["majority_accuracy"],
            "majority_uf1": result["chance"]["majority_uf1"],
            "fold_minutes": round(sum(f["seconds"] for f in result["per_fold"]) / 60, 2),
            "uf1_ci": (result.get("pooled_ci") or {}).get("uf1"),  # 95 % bootstrap interval over subjects
            "evm": run["evm"], "model": run["model"], "metrics": str(path),
            "published": paper_figure(run.get("paper_row"), result.get("protocol", "loso"), result.get("datasets", []),
                                      classes, result.get("classes", [])) if "paper_row" in run else "",
        })
    table = pd.DataFrame(rows)
    if table.duplicated(["variant", "seed"]).any():
        raise MicroexprError("a (variant, seed) pair appears twice among the runs")
    if table.n_clips.nunique() > 1:
        raise MicroexprError(f"runs were evaluated on different clip counts {sorted(table.n_clips.unique())}; "
                             "a comparison needs the same data in every run")
    return table


def _std(x: pd.Series) -> float:
    return float(x.std(ddof=1)) if len(x) > 1 else 0.0


def summarize(table: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """Mean and std over seeds per variant (in the study's order), and the paired UF1/accuracy
    difference to the reference variant with its spread over seeds."""
    order = list(dict.fromkeys(table.variant))
    values = [table.value[table.variant == v].iloc[0] for v in order]
    ref = get_study(experiment).reference(order, values)
    ref_rows = table[table.variant == ref].set_index("seed")
    rows = []
    for variant, value in zip(order, values):
        sub = table[table.variant == variant].set_index("seed")
        row = {"variant": variant, "value": value, "seeds": len(sub)}
        for key, _ in METRICS:
            row[f"{key}_mean"] = float(sub[key].mean())
            row[f"{key}_std"] = _std(sub[key])
        for key in ("uf1", "accuracy"):
            common = sub.index.intersection(ref_rows.index)
            diff = sub.loc[common, key] - ref_rows.loc[common, key]
            row[f"d_{key}_mean"] = float(diff.mean()) if len(diff) else math.nan
            row[f"d_{key}_std"] = _std(diff)
        row["reference"] = variant == ref
        row["fold_minutes_mean"] = float(sub.fold_minutes.mean())
        row["published"] = str(sub.published.iloc[0]) if "published" in sub else ""
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(row: pd.Series) -> str:
    """Plain words for a paired UF1 difference: only a shift larger than twice its standard error over
    seeds is called consistent (with one seed there is no spread to judge by)."""
    if row["reference"]:
        return "reference"
    d, s, n = row["d_uf1_mean"], row["d_uf1_std"], row["seeds"]
    if math.isnan(d):
        return "no common seed with the reference"
    if n < 2:
        return f"{d:+.3f} (one seed: cannot tell from noise)"
    se = s / math.sqrt(n)
    if abs(d) > 2 * se and abs(d) > 0:
        return f"{d:+.3f}: consistently {'better' if d > 0 else 'worse'} over {n} seeds"
    return f"{d:+.3f}: within seed noise (std {s:.3f} over {n} seeds)"


def comparison_figure(table: pd.DataFrame, summary: pd.DataFrame, experiment: str, out: str | Path) -> Path:
    """Alpha sweep: each metric vs alpha with error bars (std over seeds) and every seed's point;
    ablations: grouped bars with error bars and seed points. Dashed: the majority-class baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"accuracy": "#1f77b4", "uf1": "#d62728", "uar": "#2ca02c"}
    study = get_study(experiment)
    if study.numeric:
        fig, ax = plt.subplots(figsize=(8.5, 4.6))
        x = summary.value.astype(float).to_numpy()
        pos = np.arange(len(x))  # evenly spaced: alphas are usually 0, 2, 4, 8, ...
        for i, (key, label) in enumerate(METRICS):
            shift = (i - 1) * 0.06
            ax.errorbar(pos + shift, summary[f"{key}_mean"], yerr=summary[f"{key}_std"], marker="o", capsize=4,
                        color=colors[key], label=label, lw=1.8)
            for j, variant in enumerate(summary.variant):
                pts = table[table.variant == variant][key]
                ax.scatter(np.full(len(pts), pos[j] + shift + 0.1), pts, s=12, color=colors[key], alpha=0.45, lw=0)
        ax.set_xticks(pos, [f"{v:g}" for v in x])
        ax.set_xlabel(study.axis)
    else:
        fig, ax = plt.subplots(figsize=(max(6.5, 1.25 * len(summary) + 2.5), 4.6))
        pos = np.arange(len(summary))
        width = 0.26
        for i, (key, label) in enumerate(METRICS):
            xs = pos + (i - 1) * width
            ax.bar(xs, summary[f"{key}_mean"], width, yerr=summary[f"{key}_std"], capsize=3, color=colors[key],
                   alpha=0.8, label=label)
            for j, variant in enumerate(summary.variant):
                pts = table[table.variant == variant][key]
                ax.scatter(np.full(len(pts), xs[j]), pts, s=12, color="black", alpha=0.55, lw=0, zorder=3)
        ax.set_xticks(pos, summary.variant, rotation=20 if len(summary) > 4 else 0, ha="right" if len(summary) > 4 else "center")
        ax.set_xlabel(study.axis)
    ax.axhline(table.majority_accuracy.iloc[0], ls="--", color=colors["accuracy"], lw=1, alpha=0.6)
    ax.axhline(table.majority_uf1.iloc[0], ls="--", color=colors["uf1"], lw=1, alpha=0.6)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (pooled over LOSO folds)")
    seeds = sorted(table.seed.unique())
    ax.set_title(f"{study.title}; mean ± std over {len(seeds)} seed(s); dashed: majority-class baseline",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(out)


def _summary_table(summary: pd.DataFrame, published: bool = False) -> pd.DataFrame:
    rows = []
    for _, r in summary.iterrows():
        rows.append({
            "variant": r.variant + (" (reference)" if r.reference else ""), "seeds": int(r.seeds),
            **{label: f"{r[f'{k}_mean']:.3f} ± {r[f'{k}_std']:.3f}" for k, label in METRICS},
            "UF1 vs reference (paired)": verdict(r),
            "minutes of training": f"{r.fold_minutes_mean:.1f}",
            **({"published accuracy / F1 (the paper's, on its data)": r.published} if published else {}),
        })
    return pd.DataFrame(rows)


def _yaml(obj) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=None)


def html_page(experiment: str, table: pd.DataFrame, summary: pd.DataFrame, figure_png: str | Path, out: str | Path,
              *, config: dict | None = None, evm_variants: dict | None = None, train_variants: dict | None = None,
              name: str = "") -> Path:
    """The study's self-contained page (``templates/compare.html.j2`` in the shared page shell)."""
    from . import __version__

    study = get_study(experiment)
    out = Path(out)
    synthetic = bool(config) and (config.get("dataset") or {}).get("root") is None
    best = summary.loc[summary.uf1_mean.idxmax()]
    ref = summary[summary.reference].iloc[0]
    seeds = sorted(table.seed.unique())
    chance = table.iloc[0]
    runs = table.sort_values(["variant", "seed"], key=lambda c: c.map(
        {v: i for i, v in enumerate(summary.variant)}) if c.name == "variant" else c)
    runs = [{**r, "report": os.path.relpath(Path(r["metrics"]).parent / "report.html", out.parent)}
            for r in runs.to_dict("records")]
    provenance = {
        "created": now_utc(), "microexpr": __version__, "git commit": git_commit(),
        "study": name, "runs": len(table), "seeds": ", ".join(map(str, seeds)),
        "clips per run": int(chance.n_clips), "folds per run": int(chance.n_folds),
        "training minutes (all runs, sum of folds)": f"{table.fold_minutes.sum():.1f}",
    }
    headline = (f"Best mean UF1: {best.variant} {best.uf1_mean:.3f} ± {best.uf1_std:.3f}; "
                f"reference {ref.variant} {ref.uf1_mean:.3f} ± {ref.uf1_std:.3f} "
                f"(mean ± std over {len(seeds)} seed(s)). ")
    headline += ("No variant beats the reference's mean UF1." if best.reference else
                 f"Paired difference of the best to the reference: {verdict(best)}.")
    return render(
        "compare.html.j2", out, title=f"{name}: {study.title}", width=1060, study=study, name=name,
        seeds=seeds, synthetic=synthetic, headline=headline, figure=png_data_uri(figure_png),
        majority_accuracy=float(chance.majority_accuracy), majority_uf1=float(chance.majority_uf1),
        summary=pages_table(_summary_table(summary, study.published)), runs=runs,
        provenance=pages_table(pd.DataFrame([{"item": k, "value": str(v)} for k, v in provenance.items()])),
        evm_variants=[(t, _yaml(p)) for t, p in (evm_variants or {}).items()],
        train_variants=[(t, _yaml(p)) for t, p in (train_variants or {}).items()],
        workflow_config=_yaml(config or {}),
    )


def write_comparison(experiment: str, runs: list[dict], *, html: str | Path, summary_tsv: str | Path,
                     runs_tsv: str | Path, figure_png: str | Path, config: dict | None = None,
                     evm_variants: dict | None = None, train_variants: dict | None = None,
                     name: str = "", tables_dir: str | Path | None = None) -> pd.DataFrame:
    """Everything rule ``compare`` writes for one study (with ``tables_dir``, the page's table of variants
    and its runs as CSV and LaTeX too); returns the per-variant summary."""
    study = get_study(experiment)  # an unknown name is refused before anything is read
    table = collect(runs, ((config or {}).get("dataset") or {}).get("classes"))
    summary = summarize(table, experiment)
    with atomic_path(runs_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    with atomic_path(summary_tsv) as tmp:
        summary.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    comparison_figure(table, summary, experiment, figure_png)
    if tables_dir:
        export_tables({"variants": _summary_table(summary, study.published), "runs": table},
                      tables_dir)
    html_page(experiment, table, summary, figure_png, html, config=config, evm_variants=evm_variants,
              train_variants=train_variants, name=name)
    return summary
