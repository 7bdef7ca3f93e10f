"""MMEW: ``Micro_Expression/{emotion}/{clip}/{n}.jpg`` with ``MMEW_Micro_Exp.xlsx`` (Subject, Filename,
OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion, remarks). 90 fps."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DatasetError
from .manifest import DatasetSpec, text_subject_id
from .sheets import read_coding_sheet

FPS = 90.0
SHEET_GLOB = "MMEW_Micro_Exp*.xlsx"


def _clip_dir(root: Path, subject: str, clip: str, label: str) -> Path:
    folder = root / label / clip
    if not folder.is_dir() and root.is_dir():  # emotion folders may be spelled with another case
        for d in root.iterdir():
            if d.name.lower() == label.lower():
                return d / clip
    return folder


SPEC = DatasetSpec(
    name="mmew",
    fps=FPS,
    subject_id=text_subject_id,
    clip_dir=_clip_dir,
    frame_regex=re.compile(r"(?P<n>\d+)\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE),
)


def find_sheet(root: Path) -> Path:
    sheets = sorted(root.glob(SHEET_GLOB))
    if not sheets:
        raise DatasetError(f"no MMEW sheet ({SHEET_GLOB}) in {root}; set dataset.sheet to its path")
    return sheets[-1]


def frames_root(root: Path, layout: str = "auto") -> Path:
    folder = root / "Micro_Expression"
    if not folder.is_dir():
        raise DatasetError(f"MMEW root {root} holds no Micro_Expression/ folder")
    return folder


def read_records(root: Path, sheet: Path | None = None):
    return read_coding_sheet(Path(sheet) if sheet else find_sheet(root))
