"""Dataset loaders: a dataset root on disk -> one clean table of clips (the manifest).

>>> from microexpr.datasets import load_manifest
>>> m = load_manifest("casme2", "/data/CASME2", classes="paper5")   # doctest: +SKIP
>>> m.attrs["report"]        # every sheet row dropped or repaired, and why  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import DatasetError
from . import casme2, samm
from .manifest import (
    MANIFEST_COLUMNS, REPORT_COLUMNS, build_manifest, frame_paths, read_manifest, write_manifest,
)
from .schemes import DATASET_LABELS, SCHEMES, resolve_scheme
from .sheets import read_coding_sheet

LOADERS = {"casme2": casme2, "samm": samm}

__all__ = [
    "LOADERS", "MANIFEST_COLUMNS", "REPORT_COLUMNS", "DATASET_LABELS", "SCHEMES",
    "load_manifest", "frame_paths", "read_manifest", "write_manifest", "resolve_scheme",
]


def load_manifest(
    name: str,
    root: str | Path,
    classes: str | Sequence[str] | None = None,
    *,
    layout: str = "auto",
    sheet: str | Path | None = None,
    verify: str = "header",
    strict: bool = False,
) -> pd.DataFrame:
    """Read dataset ``name`` at ``root`` into a manifest (one row per usable clip).

    ``classes``: a scheme name (``"paper5"``), ``None``/``"all"``, or a list of labels to keep.
    ``layout``: where frames live (CASME II: ``auto``, ``cropped`` or ``raw``).
    ``sheet``: the coding sheet, if not in ``root`` under its usual name.
    ``verify``: frame checks, ``exists``, ``header`` (default) or ``decode``.
    ``strict``: raise instead of dropping rows.

    The returned frame's ``attrs["report"]`` lists every sheet row dropped or repaired, with why.
    """
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}")
    module = LOADERS[name]
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{name} root folder not found: {root}")
    scheme_name, label_map = resolve_scheme(name, classes)
    sheet_path = Path(sheet) if sheet else module.find_sheet(root)
    kwargs = {"sheet": samm.SHEET_NAME} if name == "samm" else {}
    try:
        records = read_coding_sheet(sheet_path, **kwargs)
    except DatasetError:
        if not kwargs:
            raise
        records = read_coding_sheet(sheet_path)  # a copy with a renamed sheet: look in every sheet
    return build_manifest(
        records, module.SPEC, module.frames_root(root, layout), label_map, DATASET_LABELS[name],
        scheme_name=scheme_name, verify=verify, strict=strict,
    )
