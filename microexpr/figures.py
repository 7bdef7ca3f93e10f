"""Figures quoted in the README and the docs, written from a run's own ``metrics.json`` (never typed).

A quoted block sits between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->``;
``python -m microexpr figures RUN`` rewrites every such block of the default run in the given files
from the run's aggregate metrics, and ``--check`` fails (exit 1) when a file quotes other numbers than
the run wrote (the commit the figures were measured on is not compared: a fresh run is on a later one).
CI runs the default configuration in a fresh clone and checks the README and docs against it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import MicroexprError

BLOCK = "default-run"
# How far a learned figure may lie from the run's: float rounding differs between processors, and
# small-data training amplifies it. Default run on three processors (same code): pooled UF1 0.739,
# 0.764 and 0.778 (a spread of 0.039), pooled accuracy 0.760 and 0.792, per-fold mean UF1 0.681 and
# 0.735 (0.054: a mean over 8 folds whose UF1 spread is 0.15-0.20). Each tolerance is about twice the
# largest move seen; a learner that broke (majority-class UF1 is 0.116) still fails.
TOLERANCE = 0.08            # pooled accuracy, UF1, UAR
PER_FOLD_TOLERANCE = 0.11   # per-fold mean UF1
DEFAULT_FILES = ("README.md", "docs/pipeline.md")


class FiguresError(MicroexprError):
    """No run to quote, or files that quote other figures than the run wrote."""


def find_metrics(run: str | Path) -> Path:
    """A run's aggregate ``metrics.json``: the file itself, or the one run under a results folder."""
    run = Path(run)
    if run.is_file():
        return run
    found = sorted(run.glob("reports/*/*/*/*/*/metrics.json")) if run.is_dir() else []
    if len(found) != 1:
        listed = "".join(f"\n  {p}" for p in found) or " none"
        raise FiguresError(f"{run}: needs exactly one finished run (a reports/.../metrics.json), found{listed}")
    return found[0]


def default_run_text(metrics: dict) -> str:
    """The sentence the README quotes about the default run (every number from ``metrics``)."""
    pooled, mean, std, chance = metrics["pooled"], metrics["per_fold_mean"], metrics["per_fold_std"], metrics["chance"]
    commit = str(metrics.get("git_commit") or "unknown").split()[0]
    processor = ", ".join(metrics.get("processor") or ["processor not recorded"])
    return (f"Default run (synthetic, {metrics['n_folds']} subjects, {metrics['n_clips']} clips, LOSO; figures written "
            f"by `python -m microexpr figures` from the run's metrics.json, measured on commit {commit}, "
            f"{processor}): pooled "
            f"accuracy {pooled['accuracy']:.3f}, UF1 {pooled['uf1']:.3f}, UAR {pooled['uar']:.3f} (per fold UF1 "
            f"{mean['uf1']:.3f} +- {std['uf1']:.3f}); always answering the majority class "
            f"({chance['majority_class']}) gives accuracy {chance['majority_accuracy']:.3f}, UF1 "
            f"{chance['majority_uf1']:.3f}.")


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- figures:{re.escape(name)} -->\n)(.*?)(\n<!-- /figures:{re.escape(name)} -->)", re.S)


_DECIMAL = re.compile(r"\d+\.\d+")
# per decimal figure of default_run_text, in order: how far it may differ (None: not compared)
_ALLOWED = (TOLERANCE, TOLERANCE, TOLERANCE, PER_FOLD_TOLERANCE, None, 0.0, 0.0)


def _without_provenance(text: str) -> str:
    """The text without the commit and processor it names (what a fresh run may change)."""
    return re.sub(r"measured on commit .*?\): pooled", "measured on commit ?): pooled", " ".join(text.split()))


def _differs(quoted: str, run: str) -> bool:
    """Whether ``quoted`` states other figures than ``run`` (see the module's note on tolerance)."""
    quoted, run = _without_provenance(quoted), _without_provenance(run)
    if _DECIMAL.sub("#", quoted) != _DECIMAL.sub("#", run):
        return True
    q, r = ([float(x) for x in _DECIMAL.findall(t)] for t in (quoted, run))
    return len(q) != len(_ALLOWED) or any(tol is not None and abs(a - b) > tol + 1e-9
                                          for a, b, tol in zip(q, r, _ALLOWED))


def _wrap(text: str, width: int = 104) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_on_hyphens=False))


def update(files: list[str | Path], metrics_path: str | Path, *, check: bool = False) -> list[str]:
    """Rewrite (or, with ``check``, compare) the default-run blocks of ``files``; returns what differed."""
    metrics = json.loads(Path(metrics_path).read_text())
    text = default_run_text(metrics)
    problems = []
    for f in files:
        path = Path(f)
        content = path.read_text()
        blocks = list(_pattern(BLOCK).finditer(content))
        if not blocks:
            problems.append(f"{path}: no <!-- figures:{BLOCK} --> block")
            continue
        for m in blocks:
            if _differs(m.group(2), text):
                problems.append(f"{path}: quotes\n    {' '.join(m.group(2).split())}\n  the run wrote\n    {text}")
        if not check:
            path.write_text(_pattern(BLOCK).sub(lambda m: m.group(1) + _wrap(text) + m.group(3), content))
    return problems
