"""CAS(ME)^3 part A: ``{subject}/{clip}/color/{n}.jpg`` with ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``
(Subject, Filename, Onset, Apex, Offset, AU, Objective class, emotion). 30 fps: the EVM band must lie
below 15 Hz (set evm.high_hz)."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DatasetError
from .manifest import DatasetSpec, text_subject_id
from .sheets import read_coding_sheet

FPS = 30.0
SHEET_GLOB = "cas(me)3_part_A*label*.xlsx"


SPEC = DatasetSpec(
    name="casme3a",
    fps=FPS,
    subject_id=text_subject_id,
    clip_dir=lambda root, subject, clip, label: root / subject / clip / "color",
    frame_regex=re.compile(r"(?P<n>\d+)\.(?:jpg|jpeg|png)", re.IGNORECASE),
)


def find_sheet(root: Path) -> Path:
    for folder in (root, root / "annotation", root.parent / "annotation"):
        sheets = sorted(folder.glob(SHEET_GLOB)) if folder.is_dir() else []
        if sheets:
            return sheets[-1]
    raise DatasetError(f"no CAS(ME)^3 part A label sheet ({SHEET_GLOB}) in {root}; set dataset.sheet to its path")


def frames_root(root: Path, layout: str = "auto") -> Path:
    for folder in (root / "data" / "part_A", root / "part_A", root):
        if folder.is_dir() and any(p.is_dir() and any(p.glob("*/color")) for p in folder.iterdir()):
            return folder
    raise DatasetError(f"CAS(ME)^3 root {root} holds no <subject>/<clip>/color/ folders")


def read_records(root: Path, sheet: Path | None = None):
    return read_coding_sheet(Path(sheet) if sheet else find_sheet(root))
