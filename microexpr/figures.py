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
    return (f"Default run (synthetic, {metrics['n_folds']} subjects, {metrics['n_clips']} clips, LOSO; figures written "
            f"by `python -m microexpr figures` from the run's metrics.json, measured on commit {commit}): pooled "
            f"accuracy {pooled['accuracy']:.3f}, UF1 {pooled['uf1']:.3f}, UAR {pooled['uar']:.3f} (per fold UF1 "
            f"{mean['uf1']:.3f} +- {std['uf1']:.3f}); always answering the majority class "
            f"({chance['majority_class']}) gives accuracy {chance['majority_accuracy']:.3f}, UF1 "
            f"{chance['majority_uf1']:.3f}.")


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- figures:{re.escape(name)} -->\n)(.*?)(\n<!-- /figures:{re.escape(name)} -->)", re.S)


def _numbers(text: str) -> str:
    """What the check compares: the text without the commit it names."""
    return re.sub(r"measured on commit \S+?\)", "measured on commit ?)", " ".join(text.split()))


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
            if _numbers(m.group(2)) != _numbers(text):
                problems.append(f"{path}: quotes\n    {' '.join(m.group(2).split())}\n  the run wrote\n    {text}")
        if not check:
            path.write_text(_pattern(BLOCK).sub(lambda m: m.group(1) + _wrap(text) + m.group(3), content))
    return problems
