"""SAMM: ``006/006_1_2/006_05562.jpg`` (grayscale) with ``SAMM_Micro_FACS_Codes_v2.xlsx``, sheet
MICRO_ONLY, 13 note rows above the header on Excel row 14, Subject as text ``'006'``. 200 fps."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ..errors import DatasetError
from .formats import DatasetFormat, SyntheticLayout, au_text, new_sheet, register_format, save_sheet
from .sheets import one_sheet, read_coding_sheet

FPS = 200.0
log = logging.getLogger(__name__)
SHEET_NAME = "MICRO_ONLY"
SHEET_GLOB = "SAMM_Micro_FACS_Codes*.xlsx"


def subject_id(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(value)
    return f"{int(text):03d}"


def find_sheet(root: Path) -> Path:
    for folder in (root, root.parent):
        sheets = sorted(folder.glob(SHEET_GLOB))
        if sheets:
            return one_sheet(sheets, SHEET_GLOB, folder)
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
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
        names = wb.sheetnames
        wb.close()
    except Exception:  # noqa: BLE001 - read_coding_sheet names the damage
        names = []
    if SHEET_NAME in names:
        return read_coding_sheet(path, sheet=SHEET_NAME)
    # a copy whose sheet was renamed: the one worksheet with a coding header (several are an error)
    log.warning("%s has no worksheet %s: looking for the one worksheet with a coding header", path, SHEET_NAME)
    return read_coding_sheet(path)


# ----------------------------------------------------------------------------- synthetic stand-in

SYNTH_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
SYNTH_CLASSES = {
    "Anger": (("AU4", "AU7"), 3), "Contempt": (("R14",), 4), "Happiness": (("AU6", "AU12"), 1),
    "Surprise": (("AU1", "AU2"), 2), "Other": (None, 7), "Disgust": (("AU9", "AU10"), 5),
    "Fear": (("AU1", "AU4", "AU20"), 6), "Sadness": (("AU1", "AU15"), 7),
}
_NOTES = [
    "SAMM micro-movement coding (SYNTHETIC stand-in written by microexpr; no real data)",
    "Frames are numbered as in the file names: <subject>_<frame:05d>.jpg",
    "Onset, Apex and Offset are frame numbers; Duration = Offset - Onset + 1",
    "Action Units follow FACS; Objective Classes follow Davison et al. (2018)",
]


def _synth_sheet(root: Path, plans, cfg) -> Path:
    wb, ws = new_sheet(SHEET_NAME, [])
    for i in range(13):  # note rows above the header, which is on Excel row 14
        ws.append([_NOTES[i]] if i < len(_NOTES) else [])
    ws.append(["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
               "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"])
    for p in plans:
        ws.append([p.subject, p.clip, int(p.clip.split("_")[1]), p.onset, p.sheet_apex, p.offset,
                   p.offset - p.onset + 1, "Micro - 1/2", au_text(p.aus), p.label, SYNTH_CLASSES[p.label][1], ""])
    return save_sheet(wb, root / SYNTH_SHEET)


def _synth_planted(n_subjects: int) -> dict[int, list[tuple[str, str]]]:
    """Rows outside the paper's five classes, and an apex after the offset, as the real sheet has."""
    planted = {0: [("Fear", "label outside the five classes")]}
    planted.setdefault(min(1, n_subjects - 1), []).append(("Sadness", "label outside the five classes"))
    planted.setdefault(n_subjects - 1, []).append(("Anger", "apex after offset in sheet"))
    return planted


FORMAT = register_format(DatasetFormat(
    name="samm",
    title="SAMM",
    fps=FPS,
    labels=("anger", "contempt", "happiness", "surprise", "other", "disgust", "fear", "sadness"),
    subject_id=subject_id,
    clip_dir=lambda root, subject, clip, label: root / subject / clip,
    frame_regex=re.compile(r"\d+_(?P<n>\d+)\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE),
    frames_root=frames_root,
    read_records=read_records,
    find_sheet=find_sheet,
    synthetic=SyntheticLayout(
        channels=1,
        classes=SYNTH_CLASSES,
        shares={"Anger": 57, "Other": 26, "Happiness": 26, "Surprise": 15, "Contempt": 12},  # v2 MICRO_ONLY
        subject_ids=lambda n: [f"{i + 6:03d}" for i in range(n)],
        clip_name=lambda subject, i, label: f"{subject}_{i % 7 + 1}_{i // 7 + 1}",
        frame_path=lambda root, plan, n, cfg: root / plan.subject / plan.clip / f"{plan.subject}_{n:05d}.jpg",
        write_sheet=_synth_sheet,
        first_frame=1000,
        max_subjects=994,  # three-digit ids from 006
        planted=_synth_planted,
    ),
    doc=__doc__,
))
