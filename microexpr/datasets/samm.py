"""SAMM: ``006/006_1_2/006_05562.jpg`` (grayscale) with ``SAMM_Micro_FACS_Codes_v2.xlsx``, sheet
MICRO_ONLY, 13 note rows above the header on Excel row 14, Subject as text ``'006'``. 200 fps."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DatasetError
from .manifest import DatasetSpec
from .sheets import read_coding_sheet

FPS = 200.0
SHEET_NAME = "MICRO_ONLY"
SHEET_GLOB = "SAMM_Micro_FACS_Codes*.xlsx"


def subject_id(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(value)
    return f"{int(text):03d}"


SPEC = DatasetSpec(
    name="samm",
    fps=FPS,
    subject_id=subject_id,
    clip_dir=lambda root, subject, clip, label: root / subject / clip,
    frame_regex=re.compile(r"\d+_(?P<n>\d+)\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE),
)


def find_sheet(root: Path) -> Path:
    for folder in (root, root.parent):
        sheets = sorted(folder.glob(SHEET_GLOB))
        if sheets:
            return sheets[-1]
    raise DatasetError(f"no SAMM coding sheet ({SHEET_GLOB}) in {root}; set dataset.sheet to its path")


def frames_root(root: Path, layout: str = "auto") -> Path:
    """Subject folders sit in ``root`` or in ``root/SAMM``."""
    if layout not in ("auto", "cropped", "raw"):
        raise DatasetError(f"SAMM layout must be auto, got {layout!r}")
    for folder in (root / "SAMM", root):
        if folder.is_dir() and any(p.is_dir() and p.name.isdigit() for p in folder.iterdir()):
            return folder
    raise DatasetError(f"SAMM root {root} holds no subject folders (006/, 007/, ...)")


def read_records(root: Path, sheet: Path | None = None):
    """The coding sheet's rows (raw cell values, canonical column names)."""
    path = Path(sheet) if sheet else find_sheet(root)
    try:
        return read_coding_sheet(path, sheet=SHEET_NAME)
    except DatasetError:
        return read_coding_sheet(path)  # a copy whose sheet was renamed: look in every sheet
