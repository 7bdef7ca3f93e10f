"""CAS(ME)^3 part A: ``{subject}/{clip}/color/{n}.jpg`` with ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``
(Subject, Filename, Onset, Apex, Offset, AU, Objective class, emotion). 30 fps: the EVM band must lie
below 15 Hz (set evm.high_hz)."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DatasetError
from .formats import DatasetFormat, SyntheticLayout, au_text, new_sheet, register_format, save_sheet
from .manifest import text_subject_id
from .sheets import read_coding_sheet

FPS = 30.0
SHEET_GLOB = "cas(me)3_part_A*label*.xlsx"


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


SYNTH_SHEET = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
SYNTH_CLASSES = {
    "happy": (("AU6", "AU12"), 1), "surprise": (("AU1", "AU2"), 2), "anger": (("AU4", "AU7"), 3),
    "disgust": (("AU4", "AU9"), 5), "fear": (("AU1", "AU4", "AU20"), 6), "sad": (("AU1", "AU15"), 7),
    "others": (None, 7),
}


def _synth_sheet(root: Path, plans, cfg) -> Path:
    wb, ws = new_sheet("Sheet1", ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"])
    for p in plans:
        ws.append([p.subject, p.clip, p.onset, p.sheet_apex, p.offset, au_text(p.aus), SYNTH_CLASSES[p.label][1], p.label])
    return save_sheet(wb, root / SYNTH_SHEET)


FORMAT = register_format(DatasetFormat(
    name="casme3a",
    title="CAS(ME)^3 part A",
    fps=FPS,
    labels=("happy", "disgust", "fear", "anger", "sad", "surprise", "others"),
    subject_id=text_subject_id,
    clip_dir=lambda root, subject, clip, label: root / subject / clip / "color",
    frame_regex=re.compile(r"(?P<n>\d+)\.(?:jpg|jpeg|png)", re.IGNORECASE),
    frames_root=frames_root,
    read_records=read_records,
    find_sheet=find_sheet,
    synthetic=SyntheticLayout(
        channels=3,
        classes=SYNTH_CLASSES,
        shares={c: 1 for c in ("happy", "surprise", "anger", "disgust", "fear", "sad", "others")},  # no counts at hand
        subject_ids=lambda n: [f"spNO.{i + 1}" for i in range(n)],
        clip_name=lambda subject, i, label: "abcdefghijklmnopqrstuvwxyz"[i % 26] + ("" if i < 26 else str(i // 26)),
        frame_path=lambda root, plan, n, cfg: root / plan.subject / plan.clip / "color" / f"{n}.jpg",
        write_sheet=_synth_sheet,
    ),
    doc=__doc__,
))
