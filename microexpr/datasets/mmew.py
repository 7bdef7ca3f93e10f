"""MMEW: ``Micro_Expression/{emotion}/{clip}/{n}.jpg`` with ``MMEW_Micro_Exp.xlsx`` (Subject, Filename,
OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion, remarks). 90 fps."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DatasetError
from .formats import DatasetFormat, SyntheticLayout, au_text, new_sheet, register_format, save_sheet
from .manifest import text_subject_id
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


SYNTH_SHEET = "MMEW_Micro_Exp.xlsx"
SYNTH_CLASSES = {
    "happiness": (("AU6", "AU12"), 1), "surprise": (("AU1", "AU2"), 2), "anger": (("AU4", "AU7"), 3),
    "disgust": (("AU4", "AU9"), 5), "fear": (("AU1", "AU4", "AU20"), 6), "sadness": (("AU1", "AU15"), 7),
    "others": (None, 7),
}


def _synth_sheet(root: Path, plans, cfg) -> Path:
    wb, ws = new_sheet("Sheet1", ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
                                  "Estimated Emotion", "remarks"])
    for p in plans:
        ws.append([p.subject, p.clip, p.onset, p.sheet_apex, p.offset, au_text(p.aus), p.label, ""])
    return save_sheet(wb, root / SYNTH_SHEET)


FORMAT = register_format(DatasetFormat(
    name="mmew",
    title="MMEW",
    fps=FPS,
    labels=("happiness", "surprise", "anger", "disgust", "fear", "sadness", "others"),
    subject_id=text_subject_id,
    clip_dir=_clip_dir,
    frame_regex=re.compile(r"(?P<n>\d+)\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE),
    frames_root=frames_root,
    read_records=read_records,
    find_sheet=find_sheet,
    synthetic=SyntheticLayout(
        channels=3,
        classes=SYNTH_CLASSES,
        shares={c: 1 for c in ("happiness", "surprise", "anger", "disgust", "fear", "sadness", "others")},  # no counts at hand
        subject_ids=lambda n: [f"S{i + 1:02d}" for i in range(n)],
        clip_name=lambda subject, i, label: f"{subject}_{i + 1:02d}",
        frame_path=lambda root, plan, n, cfg: root / "Micro_Expression" / plan.label / plan.clip / f"{n}.jpg",
        write_sheet=_synth_sheet,
    ),
    doc=__doc__,
))
