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
from . import casme2, casme3a, mmew, samm, smic  # noqa: F401  (each registers its format)
from .byo import load_byo_manifest
from .formats import FORMATS, DatasetFormat, format_names, get_format, register_format
from .frames import frame_paths
from .manifest import MANIFEST_COLUMNS, REPORT_COLUMNS, build_manifest, read_manifest, write_manifest
from .schemes import SCHEMES, resolve_scheme

__all__ = [
    "FORMATS", "DatasetFormat", "format_names", "get_format", "register_format",
    "MANIFEST_COLUMNS", "REPORT_COLUMNS", "SCHEMES",
    "load_manifest", "load_composite", "load_run_manifest", "load_byo_manifest", "frame_paths", "read_manifest", "write_manifest", "resolve_scheme",
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
    apex: str = "annotated",
) -> pd.DataFrame:
    """Read dataset ``name`` at ``root`` into a manifest (one row per usable clip). ``name`` is a
    registered format, or ``manifest`` for a bring-your-own CSV (``root`` its path; ``classes`` the labels
    it may use; the other options are the CSV's own columns' business and do not apply).

    ``classes``: a scheme name (``"paper5"``), ``None``/``"all"``, or a list of labels to keep.
    ``layout``: where frames live (CASME II: ``auto``, ``cropped`` or ``raw``).
    ``sheet``: the coding sheet, if not in ``root`` under its usual name (SMIC has none).
    ``verify``: frame checks, ``exists``, ``header`` (default) or ``decode``.
    ``strict``: raise instead of dropping rows.
    ``apex``: ``annotated`` (the sheet's; the middle frame where it has none), ``spotted`` (from the
    motion, :mod:`microexpr.spotting`) or ``middle``; every changed apex is in the report.

    The returned frame's ``attrs["report"]`` lists every sheet row dropped or repaired, with why.
    """
    if name == "manifest":
        from .byo import allowed_labels

        return load_byo_manifest(root, allowed_labels(classes))
    fmt = get_format(name)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{name} root folder not found: {root}")
    scheme_name, label_map = resolve_scheme(name, classes)
    records = fmt.read_records(root, Path(sheet) if sheet else None)
    return build_manifest(
        records, fmt, fmt.frames_root(root, layout), label_map, fmt.labels,
        scheme_name=scheme_name, verify=verify, strict=strict, apex=apex,
    )


def load_composite(sources: dict[str, str | Path | dict], classes: str | Sequence[str] = "megc2019",
                   **kwargs) -> pd.DataFrame:
    """Several datasets as one manifest (e.g. the MEGC2019 composite: casme2 + samm + smic, 3 classes).

    ``sources`` maps a dataset name to its root (or to a dict of :func:`load_manifest` arguments with
    a ``root``). Subjects are made distinct across datasets (``casme2_sub01``, ``samm_006``, ``smic_s1``;
    the dataset's own id stays in ``source_subject``); the report concatenates the datasets' reports.
    """
    if not sources:
        raise DatasetError("a composite needs at least one dataset")
    parts, reports = [], []
    for name, spec in sources.items():
        args = dict(spec) if isinstance(spec, dict) else {"root": spec}
        args = {**kwargs, **args}
        m = load_manifest(name, args.pop("root"), classes, **args)
        reports.append(m.attrs["report"])
        m = m.copy()
        m.attrs = {}  # pandas compares attrs when concatenating; the reports are joined below
        m.insert(m.columns.get_loc("subject") + 1, "source_subject", m.subject)
        m["subject"] = name + "_" + m.subject
        parts.append(m)
    manifest = pd.concat(parts, ignore_index=True)
    manifest.attrs["report"] = pd.concat(reports, ignore_index=True)
    return manifest


def load_run_manifest(roots: dict[str, str | Path], classes: str | Sequence[str], *, layout: str = "auto",
                      sheet: str | Path | None = None, **kwargs) -> pd.DataFrame:
    """The manifest of a run's data: one dataset's (or a bring-your-own CSV's, format ``manifest``) from
    ``{format: root}``, or the composite of several; refused when it holds fewer than two classes.
    ``layout`` and ``sheet`` apply to a single dataset; ``kwargs`` (verify, strict, apex) to every one."""
    from .manifest import require_classes

    if len(roots) == 1:
        (fmt, root), = roots.items()
        manifest = load_manifest(fmt, root, classes, layout=layout, sheet=sheet, **kwargs)
    else:
        manifest = load_composite(dict(roots), classes, **kwargs)
    require_classes(manifest, ", ".join(map(str, roots.values())))
    return manifest
