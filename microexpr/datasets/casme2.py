"""CASME II: ``Cropped/sub01/EP02_01f/reg_img46.jpg`` or ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg``
with ``CASME2-coding-*.xlsx`` (the 2019 sheet: two blank columns, Subject as text ``'01'``; older sheets
store Subject as an integer). 200 fps."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DatasetError
from .formats import DatasetFormat, SyntheticLayout, au_text, new_sheet, register_format, save_sheet
from .sheets import one_sheet, read_coding_sheet

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


def find_sheet(root: Path) -> Path:
    return one_sheet(sorted(root.glob(SHEET_GLOB)), SHEET_GLOB, root)


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


# ----------------------------------------------------------------------------- synthetic stand-in

SYNTH_SHEET = "CASME2-coding-20190701.xlsx"
SYNTH_SHEET_2014 = "CASME2-coding-20140508.xlsx"
# label -> AUs (None: drawn from the 'others' pool), objective class (Davison et al.)
SYNTH_CLASSES = {
    "happiness": (("AU6", "AU12"), 1), "surprise": (("AU1", "AU2"), 2),
    "disgust": (("AU4", "AU9"), 5), "repression": (("AU15", "AU17"), 7),
    "others": (None, 7), "fear": (("AU1", "AU4", "AU20"), 6), "sadness": (("AU1", "AU15"), 7),
}


def _synth_frame(root: Path, plan, n: int, cfg) -> Path:
    folder = LAYOUT_DIRS[cfg.layout]
    name = f"reg_img{n}.jpg" if cfg.layout == "cropped" else f"img{n}.jpg"
    return root / folder / plan.subject / plan.clip / name


def _synth_sheet(root: Path, plans, cfg) -> Path:
    if cfg.sheet_version == "2019":  # two blank columns; Subject as text '01'
        wb, ws = new_sheet("Sheet1", ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                                      "Action Units", "Estimated Emotion", "Objective Classes"])
        for p in plans:
            ws.append([p.subject[3:], p.clip, None, p.onset, p.sheet_apex, p.offset, None,
                       au_text(p.aus), p.label, SYNTH_CLASSES[p.label][1]])
        return save_sheet(wb, root / SYNTH_SHEET)
    wb, ws = new_sheet("Sheet1", ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
                                  "Estimated Emotion"])
    for p in plans:
        ws.append([int(p.subject[3:]), p.clip, p.onset, p.sheet_apex, p.offset, au_text(p.aus), p.label])
    return save_sheet(wb, root / SYNTH_SHEET_2014)


def _synth_planted(n_subjects: int) -> dict[int, list[tuple[str, str]]]:
    """Rows outside the paper's five classes, as the real sheet has."""
    planted = {0: [("fear", "label outside the five classes")]}
    planted.setdefault(min(1, n_subjects - 1), []).append(("sadness", "label outside the five classes"))
    return planted


def _synth_finish(plans) -> None:
    # like sub04 EP12_01f in the real sheet: a regular clip whose apex reads '/'
    target = plans[len(plans) // 2]
    target.sheet_apex = "/"
    target.planted = "apex '/' in sheet"


FORMAT = register_format(DatasetFormat(
    name="casme2",
    title="CASME II",
    fps=FPS,
    labels=("happiness", "others", "disgust", "repression", "surprise", "fear", "sadness"),
    subject_id=subject_id,
    clip_dir=lambda root, subject, clip, label: root / subject / clip,
    frame_regex=re.compile(r"(?:reg_)?img(?P<n>\d+)\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE),
    frames_root=frames_root,
    read_records=read_records,
    find_sheet=find_sheet,
    synthetic=SyntheticLayout(
        channels=3,
        classes=SYNTH_CLASSES,
        # the paper's five classes with their shares in the 2019 sheet
        shares={"others": 99, "disgust": 63, "happiness": 32, "repression": 27, "surprise": 25},
        subject_ids=lambda n: [f"sub{i + 1:02d}" for i in range(n)],
        clip_name=lambda subject, i, label: f"EP{i + 1:02d}_{(i % 3) + 1:02d}" + ("f" if i % 4 == 1 else ""),
        frame_path=_synth_frame,
        write_sheet=_synth_sheet,
        planted=_synth_planted,
        finish=_synth_finish,
    ),
    doc=__doc__,
))
