"""Bring-your-own inputs: a CSV that points at images a user already has.

Columns: ``subject``, ``sample``, ``label`` and paths (relative to the CSV's folder or absolute):
``flow`` (a 3-channel flow image, PNG/JPG), ``apex`` (required), ``onset`` and ``mask`` (optional).
A sample enters the pipeline at the earliest stage its files allow:

* ``flow`` + ``apex`` -> straight to masks and shards (the ``mask`` column, if given, replaces the mask
  derived from the flow image);
* ``onset`` + ``apex`` (no ``flow``) -> optical flow is computed, then as above.

An optional ``dataset`` column names each sample's source dataset (``casme2``, ``samm``, ``smic``, ...),
as in a composite: subjects stay distinct per dataset (``casme2_sub01``; the CSV's own id is kept in
``source_subject``), reports give per-dataset scores, and leave-one-dataset-out works.

Images may be any size (they are resized to the model size). Every row is checked before anything
runs; missing files, unreadable images, unknown labels or datasets and missing required paths stop the
load with every bad row named.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import DatasetError
from ..sampleid import SampleId
from .manifest import REPORT_COLUMNS, name_problem
from .formats import format_names

REQUIRED = ("subject", "sample", "label")
PATH_COLUMNS = ("flow", "apex", "onset", "mask")


def _check_image(path: Path, channels: int | None) -> str | None:
    import cv2

    if not path.is_file():
        return f"missing file {path}"
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        return f"unreadable image {path}"
    if channels == 3 and (img.ndim != 3 or img.shape[2] < 3):
        return f"flow image {path} has {1 if img.ndim == 2 else img.shape[2]} channel(s), needs 3"
    return None


def read_csv_table(csv_path: str | Path) -> pd.DataFrame:
    """A bring-your-own CSV as text cells with lower-case column names; a file that is not a readable
    comma-separated UTF-8 table (ragged rows, another encoding) is an error naming it and why."""
    csv_path = Path(csv_path)
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{csv_path}: not a readable CSV table ({first})") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    return table


def load_byo_manifest(csv_path: str | Path, allowed_labels: set[str] | None = None) -> pd.DataFrame:
    """Read and check a bring-your-own CSV; returns a manifest (``entry`` says where each sample enters)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"manifest CSV not found: {csv_path}")
    table = read_csv_table(csv_path)
    missing = [c for c in REQUIRED + ("apex",) if c not in table.columns]
    if missing:
        raise DatasetError(f"{csv_path}: missing column(s) {missing}; needs {list(REQUIRED)}, apex, and flow or onset")
    if "flow" not in table.columns and "onset" not in table.columns:
        raise DatasetError(f"{csv_path}: needs a flow or an onset column")
    base = csv_path.parent
    with_dataset = "dataset" in table.columns
    rows, problems, seen = [], [], {}
    for i, rec in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        subject, sample, label = (str(rec.get(c, "")).strip() for c in REQUIRED)
        where = f"row {i} ({subject or '?'}/{sample or '?'})"
        errors = []
        dataset = str(rec.get("dataset", "")).strip().lower() if with_dataset else "manifest"
        if with_dataset and not dataset:
            errors.append("empty dataset")
        elif with_dataset and dataset not in format_names():
            errors.append(f"unknown dataset {rec['dataset']!r} (known: {', '.join(format_names())})")
        if not subject or not sample:
            errors.append("empty subject or sample")
        else:
            errors += [p for p in (name_problem(subject, "subject"), name_problem(sample, "sample")) if p]
        if not label:
            errors.append("empty label")
        elif allowed_labels is not None and label not in allowed_labels:
            errors.append(f"unknown label {label!r} (known: {', '.join(sorted(allowed_labels))})")
        paths = {}
        for col in PATH_COLUMNS:
            value = str(rec.get(col, "") or "").strip()
            if value:
                p = Path(value)
                paths[col] = p if p.is_absolute() else base / p
        if "apex" not in paths:
            errors.append("no apex image")
        if "flow" not in paths and "onset" not in paths:
            errors.append("neither a flow nor an onset image")
        for col, p in paths.items():
            problem = _check_image(p, 3 if col == "flow" else None)
            if problem:
                errors.append(problem)
        key = (dataset, subject, sample)
        if key in seen and subject and sample:
            errors.append(f"duplicate of row {seen[key]}")
        seen.setdefault(key, i)
        if errors:
            problems.append(f"  {where}: " + "; ".join(errors))
            continue
        rows.append({
            # as in a composite: the id keeps the dataset's own subject, the subject is made distinct
            "sample_id": str(SampleId(dataset, subject, sample)), "dataset": dataset,
            "subject": f"{dataset}_{subject}" if with_dataset else subject, "source_subject": subject, "clip": sample,
            "label": label, "raw_label": label, "entry": "flow" if "flow" in paths else "onset+apex",
            **{f"{c}_path": str(paths[c].resolve()) if c in paths else "" for c in PATH_COLUMNS},
            "sheet_row": i,
        })
    if problems:
        raise DatasetError(f"{csv_path}: {len(problems)} row(s) cannot be used:\n" + "\n".join(problems))
    if not rows:
        raise DatasetError(f"{csv_path}: no rows")
    manifest = pd.DataFrame(rows)
    manifest.attrs["report"] = pd.DataFrame(columns=REPORT_COLUMNS)
    return manifest


def allowed_labels(classes, csv_path: str | Path | None = None) -> set[str] | None:
    """Labels a bring-your-own manifest may use: an explicit list, a scheme's class names, or (``all``)
    whatever the CSV holds (``None``: no check)."""
    from .schemes import SCHEMES

    if classes is None or classes == "all":
        return None
    if isinstance(classes, str):
        if classes not in SCHEMES:
            raise DatasetError(f"unknown class scheme {classes!r}; known: all, {', '.join(sorted(SCHEMES))}, or a list")
        return {c for mapping in SCHEMES[classes].values() for c in mapping.values()}
    return {str(c).strip() for c in classes}


def byo_classes(classes, csv_path: str | Path) -> list[str]:
    """The classes a bring-your-own run learns and scores, in label-index order: an explicit list as
    given; a scheme name, those of its classes the CSV holds (a scheme of other datasets' names would
    count classes that never occur); ``all``, the CSV's own labels. Fewer than two is an error."""
    labels = allowed_labels(classes)
    present = set(csv_labels(csv_path))
    if isinstance(classes, str) and labels is not None:
        labels &= present
    labels = sorted(labels) if labels is not None else sorted(present)
    if len(labels) < 2:
        raise DatasetError(f"{csv_path}: needs samples of at least two classes to learn and score, holds "
                           f"{labels or 'none'} (dataset.classes: {classes!r})")
    return labels


def _csv_column(csv_path: str | Path, column: str) -> list[str]:
    table = read_csv_table(csv_path)
    return sorted({v.strip() for v in table.get(column, []) if v.strip()})


def csv_labels(csv_path: str | Path) -> list[str]:
    return _csv_column(csv_path, "label")


def csv_datasets(csv_path: str | Path) -> list[str]:
    """The source datasets a CSV's ``dataset`` column names (empty without the column)."""
    return sorted({d.lower() for d in _csv_column(csv_path, "dataset")})
