"""SMIC-HS: ``HS/{subject}/micro/{emotion}/{clip}/image<N>.bmp``; labels are the emotion folders
(negative, positive, surprise); no coding sheet and no apex annotation: onset and offset are the
clip's first and last frames and the apex is repaired to the middle frame (the report says so for
every clip). 100 fps."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import DatasetError
from .formats import DatasetFormat, SyntheticLayout, register_format
from .frames import scan_frames
from .manifest import text_subject_id

FPS = 100.0
FRAME_REGEX = re.compile(r"image(?P<n>\d+)\.(?:bmp|jpg|jpeg|png)", re.IGNORECASE)
NO_APEX = "none: SMIC has no apex annotation"


def frames_root(root: Path, layout: str = "auto") -> Path:
    for folder in (root / "HS", root):
        if folder.is_dir() and any((p / "micro").is_dir() for p in folder.iterdir() if p.is_dir()):
            return folder
    raise DatasetError(f"SMIC root {root} holds no HS/<subject>/micro/ folders")


def read_records(root: Path, sheet: Path | None = None) -> pd.DataFrame:
    """One record per clip folder; ``excel_row`` holds the clip folder's path (there is no sheet)."""
    if sheet:
        raise DatasetError("SMIC has no coding sheet: labels come from the folders (leave dataset.sheet empty)")
    base = frames_root(root)
    rows = []
    for clip_dir in sorted(base.glob("*/micro/*/*")):
        if not clip_dir.is_dir():
            continue
        subject, label, clip = clip_dir.parts[-4], clip_dir.parts[-2], clip_dir.parts[-1]
        frames, _ = scan_frames(clip_dir, FRAME_REGEX)
        rows.append({"subject": subject, "clip": clip, "emotion": label,
                     "onset": min(frames) if frames else None, "apex": None, "apex_note": NO_APEX,
                     "offset": max(frames) if frames else None, "excel_row": str(clip_dir.relative_to(base)),
                     "sheet": "(folders)"})
    if not rows:
        raise DatasetError(f"no clip folders under {base}/<subject>/micro/<emotion>/")
    return pd.DataFrame(rows).astype(object)


SYNTH_ABBREVIATIONS = {"negative": "ne", "positive": "po", "surprise": "sur"}

FORMAT = register_format(DatasetFormat(
    name="smic",
    title="SMIC-HS",
    fps=FPS,
    labels=("negative", "positive", "surprise"),
    subject_id=text_subject_id,
    clip_dir=lambda root, subject, clip, label: root / subject / "micro" / label / clip,
    frame_regex=FRAME_REGEX,
    frames_root=frames_root,
    read_records=read_records,
    find_sheet=None,  # the folder tree is the annotation
    synthetic=SyntheticLayout(
        channels=3,
        classes={"negative": (("AU4", "AU15"), 0), "positive": (("AU6", "AU12"), 0), "surprise": (("AU1", "AU2"), 0)},
        shares={"negative": 70, "positive": 51, "surprise": 43},
        subject_ids=lambda n: [f"s{i + 1}" for i in range(n)],
        clip_name=lambda subject, i, label: f"{subject}_{SYNTH_ABBREVIATIONS[label]}_{i + 1:02d}",
        frame_path=lambda root, plan, n, cfg: root / "HS" / plan.subject / "micro" / plan.label / plan.clip / f"image{n:07d}.bmp",
        write_sheet=lambda root, plans, cfg: None,  # no coding sheet: labels are folder names
        first_frame=500000,
        onset_to_offset=True,
    ),
    doc=__doc__,
))
