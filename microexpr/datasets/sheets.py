"""Reading coding spreadsheets (.xlsx) whose header may sit below note rows and whose columns may
carry blank headers, as the CASME II and SAMM sheets do."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from ..errors import DatasetError

log = logging.getLogger(__name__)

# normalised header -> field name used by the loaders
COLUMN_ALIASES: dict[str, str] = {
    "subject": "subject",
    "filename": "clip",
    "onsetframe": "onset",
    "onset": "onset",
    "apexframe": "apex",
    "apex": "apex",
    "offsetframe": "offset",
    "offset": "offset",
    "estimatedemotion": "emotion",
    "emotion": "emotion",
    "actionunits": "action_units",
    "au": "action_units",
    "objectiveclasses": "objective_class",
    "objectiveclass": "objective_class",
}


def normalise_header(value) -> str:
    return re.sub(r"[^a-z0-9]", "", str(value).lower()) if value is not None else ""


def read_coding_sheet(
    path: str | Path,
    *,
    sheet: str | None = None,
    required: tuple[str, ...] = ("subject", "clip", "onset", "apex", "offset", "emotion"),
    max_header_row: int = 40,
) -> pd.DataFrame:
    """Read a coding sheet into a DataFrame of raw cell values with canonical column names.

    The header row is the first row (within ``max_header_row``) holding all ``required`` fields; the
    returned frame has an ``excel_row`` column (1-based, as Excel shows it) for error messages.
    Cells keep their Python types (a subject may be ``'01'`` or ``1``).
    """
    from openpyxl import load_workbook

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"coding sheet not found: {path}")
    if path.suffix.lower() != ".xlsx":
        raise DatasetError(f"coding sheet {path} is not an .xlsx file; open it in a spreadsheet program and save it as .xlsx")
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for damaged files
        raise DatasetError(f"cannot read coding sheet {path}: {exc}") from exc
    try:
        names = [sheet] if sheet else wb.sheetnames
        if sheet and sheet not in wb.sheetnames:
            raise DatasetError(f"{path}: no sheet named {sheet!r} (sheets: {', '.join(wb.sheetnames)})")
        found = {}  # worksheet -> (header row index, fields, rows)
        for name in names:
            rows = list(wb[name].iter_rows(values_only=True))
            for i, row in enumerate(rows[:max_header_row]):
                fields = {}
                for j, cell in enumerate(row):
                    field = COLUMN_ALIASES.get(normalise_header(cell))
                    if field and field not in fields:
                        fields[field] = j
                if all(r in fields for r in required):
                    found[name] = (i, fields, rows)
                    break
    finally:
        wb.close()
    if not found:
        raise DatasetError(
            f"{path}: no header row with columns {', '.join(required)} in the first "
            f"{max_header_row} rows of sheet(s) {', '.join(names)}"
        )
    if len(found) > 1:
        raise DatasetError(f"{path}: the worksheets {', '.join(map(repr, found))} each hold a coding header; "
                           "which is the coding is ambiguous: keep only the coding worksheet in the workbook "
                           "(a copy of it) and set dataset.sheet to that file")
    (name, (i, fields, rows)), = found.items()
    formulas = _formula_cells(path, name, i, fields)
    records = []
    for k, data in enumerate(rows[i + 1 :], start=i + 2):
        if data is None or all(v is None or str(v).strip() == "" for v in data):
            continue
        rec = {f: (data[j] if j < len(data) else None) for f, j in fields.items()}
        rec["excel_row"] = k
        rec["sheet"] = name
        rec["formulas"] = formulas.get(k, "")
        records.append(rec)
    log.info("coding sheet %s, worksheet %r (header on row %d): %d rows", path, name, i + 1, len(records))
    return pd.DataFrame.from_records(records, columns=[*fields, "excel_row", "sheet", "formulas"]).astype(object)


def _formula_cells(path: Path, name: str, header: int, fields: dict[str, int]) -> dict[int, str]:
    """Excel row -> 'field =FORMULA, ...' for the cells of the coding columns that hold a formula with no
    saved value (a sheet written by a program that computes none: the value cells read as empty)."""
    from openpyxl import load_workbook

    out: dict[int, str] = {}
    wb = load_workbook(path, read_only=True, data_only=False)
    try:
        values = load_workbook(path, read_only=True, data_only=True)
        try:
            for k, (raw, cached) in enumerate(zip(wb[name].iter_rows(min_row=header + 2, values_only=True),
                                                  values[name].iter_rows(min_row=header + 2, values_only=True)),
                                              start=header + 2):
                bad = [f"{field} {raw[j]}" for field, j in fields.items()
                       if j < len(raw) and isinstance(raw[j], str) and raw[j].startswith("=")
                       and (j >= len(cached) or cached[j] is None)]
                if bad:
                    out[k] = ", ".join(bad)
        finally:
            values.close()
    finally:
        wb.close()
    return out


def one_sheet(sheets: list[Path], pattern: str, where: Path) -> Path:
    """The one coding workbook matching ``pattern``; several are an error (which one is the coding
    cannot be guessed: dates in names are not versions), none too."""
    if len(sheets) > 1:
        raise DatasetError(f"several coding sheets match {pattern} in {where}: {', '.join(p.name for p in sheets)}; "
                           "set dataset.sheet to the one to use")
    if not sheets:
        raise DatasetError(f"no coding sheet ({pattern}) in {where}; set dataset.sheet to its path")
    return sheets[0]
