"""CASME II: ``Cropped/sub01/EP02_01f/reg_img46.jpg`` or ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg``
with ``CASME2-coding-*.xlsx`` (the 2019 sheet: two blank columns, Subject as text ``'01'``; older sheets
store Subject as an integer). 200 fps."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DatasetError
from .manifest import DatasetSpec
from .sheets import read_coding_sheet

FPS = 200.0
LAYOUT_DIRS = {"cropped": "Cropped", "raw": "CASME2_RAW_selected"}
SHEET_GLOB = "CASME2-coding-*.xlsx"


def subject_id(value) -> str:
    text = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    m = re.fullmatch(r"(?:sub)?0*(\d+)", text, flags=re.IGNORECASE)
    if not m:
        raise ValueError(value)
    return f"sub{int(m.group(1)):02d}"


SPEC = DatasetSpec(
    name="casme2",
    fps=FPS,
    subject_id=subject_id,
    clip_dir=lambda root, subject, clip, label: root / subject / clip,
    frame_regex=re.compile(r"(?:reg_)?img(?P<n>\d+)\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE),
)


def find_sheet(root: Path) -> Path:
    sheets = sorted(root.glob(SHEET_GLOB))
    if not sheets:
        raise DatasetError(f"no CASME II coding sheet ({SHEET_GLOB}) in {root}; set dataset.sheet to its path")
    return sheets[-1]  # the newest by its date stamp


def frames_root(root: Path, layout: str = "auto") -> Path:
    if layout == "auto":
        for name in ("cropped", "raw"):
            if (root / LAYOUT_DIRS[name]).is_dir():
                return root / LAYOUT_DIRS[name]
        raise DatasetError(
            f"CASME II root {root} holds neither {LAYOUT_DIRS['cropped']}/ nor {LAYOUT_DIRS['raw']}/"
        )
    if layout not in LAYOUT_DIRS:
        raise DatasetError(f"CASME II layout must be auto, cropped or raw, got {layout!r}")
    folder = root / LAYOUT_DIRS[layout]
    if not folder.is_dir():
        raise DatasetError(f"CASME II {layout} frames folder not found: {folder}")
    return folder


def read_records(root: Path, sheet: Path | None = None):
    """The coding sheet's rows (raw cell values, canonical column names)."""
    path = Path(sheet) if sheet else find_sheet(root)
    return read_coding_sheet(path)
