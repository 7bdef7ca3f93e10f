"""Reading coding spreadsheets (.xlsx) whose header may sit below note rows and whose columns may
carry blank headers, as the CASME II and SAMM sheets do."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import DatasetError

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
        for name in names:
            rows = list(wb[name].iter_rows(values_only=True))
            for i, row in enumerate(rows[:max_header_row]):
                fields = {}
                for j, cell in enumerate(row):
                    field = COLUMN_ALIASES.get(normalise_header(cell))
                    if field and field not in fields:
                        fields[field] = j
                if all(r in fields for r in required):
                    records = []
                    for k, data in enumerate(rows[i + 1 :], start=i + 2):
                        if data is None or all(v is None or str(v).strip() == "" for v in data):
                            continue
                        rec = {f: (data[j] if j < len(data) else None) for f, j in fields.items()}
                        rec["excel_row"] = k
                        rec["sheet"] = name
                        records.append(rec)
                    return pd.DataFrame.from_records(
                        records, columns=[*fields, "excel_row", "sheet"]
                    ).astype(object)
        raise DatasetError(
            f"{path}: no header row with columns {', '.join(required)} in the first "
            f"{max_header_row} rows of sheet(s) {', '.join(names)}"
        )
    finally:
        wb.close()
