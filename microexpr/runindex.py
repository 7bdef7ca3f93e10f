"""``results/<name>/index.html``: every finished run of one configuration name, with its scores, the
settings behind its variant hashes and links to its report and final model."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd

from .pages import now_utc, render

log = logging.getLogger(__name__)


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
