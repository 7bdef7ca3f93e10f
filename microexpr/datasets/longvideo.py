"""Long-video datasets for spotting: whole recordings of a face with every expression coded in a sheet.

Two formats, with the layouts and sheet columns public spotting code reads them with:

* ``casme_sq``: CAS(ME)^2 (30 fps). Frames ``rawpic/s15/15_0101disgustingteeth/img1.jpg``; the workbook
  ``CAS(ME)^2code_final.xlsx`` (or ``...(Updated).xlsx``) has no header row. Its first sheet has one row per
  expression: participant number, ``<video name>_<expression number>`` (``disgust1_1``), onset, apex,
  offset (``0`` where no offset was coded: the apex is taken), action units, estimated emotion, expression
  type (``micro-expression`` / ``macro-expression``) and self-reported emotion. The second sheet maps the
  participant number (third column) to the subject folder number (first column, ``15`` -> ``s15``); the
  third maps a video code (first column, ``0101``) to the video name (second column, ``disgust1``). A
  video's folder is ``<subject number>_<video code><description>``.
* ``samm_lv``: SAMM long videos (200 fps, gray). Frames ``SAMM_longvideos/006_1/006_1_0001.jpg``; the workbook
  ``SAMM_LongVideos_V*_Release.xlsx``, sheet ``FACS_Movement_Only``, has 9 note rows above its header:
  Subject, Filename (``006_1_2``: subject, video, expression), Inducement Code, Onset, Apex, Offset,
  Duration, Type (``Micro - 1/2`` or ``Macro``), Action Units, Notes. An onset of ``0`` means none was
  coded: the apex is taken.

:func:`load_long_videos` reads either into two tables: the videos (subject, video, folder, frame numbers)
and the coded intervals (subject, video, onset, apex, offset as frame numbers, ``micro``/``macro``), with a
report of every row dropped or repaired and why.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DatasetError

log = logging.getLogger(__name__)

INTERVAL_COLUMNS = ("subject", "video", "onset", "apex", "offset", "type", "aus", "emotion", "row")
VIDEO_COLUMNS = ("subject", "video", "folder", "first", "last", "frames")
REPORT_COLUMNS = ("row", "subject", "video", "action", "reason")


@dataclass(frozen=True)
class LongVideoFormat:
    """One long-video dataset's layout: where its frames and sheet are and how the sheet reads."""

    name: str
    title: str
    fps: float
    channels: int                                   # 1: gray frames, 3: colour
    sheet_glob: str
    frames_dir: str                                 # the folder (below the root) holding the video folders
    frame_regex: re.Pattern                         # file name -> group 'n', the frame number
    read_sheet: Callable[[Path], pd.DataFrame]      # sheet -> INTERVAL_COLUMNS (raw onset/apex/offset)
    video_folders: Callable[[Path], dict[tuple[str, str], Path]]  # frames dir -> {(subject, video): folder}

    def find_sheet(self, root: Path) -> Path:
        sheets = sorted(p for p in Path(root).glob(self.sheet_glob) if not p.name.startswith("~$"))
        if not sheets:
            raise DatasetError(f"no {self.title} coding sheet ({self.sheet_glob}) in {root}")
        if len(sheets) > 1:
            raise DatasetError(f"{root} holds several {self.title} sheets ({', '.join(p.name for p in sheets)}): "
                               f"give the one to read")
        return sheets[0]


LONG_FORMATS: dict[str, LongVideoFormat] = {}


def register_long_format(fmt: LongVideoFormat) -> LongVideoFormat:
    if fmt.name in LONG_FORMATS and LONG_FORMATS[fmt.name] is not fmt:
        raise DatasetError(f"long-video format {fmt.name!r} registered twice")
    LONG_FORMATS[fmt.name] = fmt
    return fmt


def get_long_format(name: str) -> LongVideoFormat:
    if name not in LONG_FORMATS:
        raise DatasetError(f"unknown long-video dataset {name!r}; known: {', '.join(sorted(LONG_FORMATS))}")
    return LONG_FORMATS[name]


def _int(value, what: str, row: int, sheet: Path) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{sheet}, row {row}: {what} {value!r} is not a frame number") from None
    if number != number or not number.is_integer() or number < 0:
        raise DatasetError(f"{sheet}, row {row}: {what} {value!r} is not a frame number")
    return int(number)


# ----------------------------------------------------------------------------- CAS(ME)^2

CASME_SQ_TYPES = {"micro-expression": "micro", "macro-expression": "macro"}


def _casme_sq_sheet(path: Path) -> pd.DataFrame:
    try:
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
        raise DatasetError(f"{path}: cannot be read as a workbook ({type(exc).__name__}: {exc})") from None
    sheets = list(book.values())
    if len(sheets) < 3:
        raise DatasetError(f"{path}: {len(sheets)} sheet(s); CAS(ME)^2's workbook has the codes, then the "
                           f"participant naming and the video naming sheets")
    codes, people, names = sheets[:3]
    if codes.dropna(how="all").empty:
        log.warning("%s: the codes sheet is empty (no coded expressions)", path)
        return pd.DataFrame(columns=list(INTERVAL_COLUMNS))
    if codes.shape[1] < 8:
        raise DatasetError(f"{path}: the first sheet has {codes.shape[1]} columns; expected participant, "
                           f"expression, onset, apex, offset, action units, emotion, type")
    subject_of = {_int(r[2], "participant", i + 1, path): f"s{int(float(r[0]))}" for i, r in people.iterrows()
                  if pd.notna(r[0]) and pd.notna(r[2])}
    code_of = {str(r[1]).strip(): str(r[0]).strip().zfill(4) for _, r in names.iterrows() if pd.notna(r[1])}
    rows = []
    for i, r in codes.iterrows():
        line = i + 1  # no header row
        if all(pd.isna(v) for v in r.values):
            continue
        participant = _int(r[0], "participant", line, path)
        if participant not in subject_of:
            raise DatasetError(f"{path}, row {line}: participant {participant} is not in the naming sheet")
        expression = str(r[1]).strip()
        name = expression.rsplit("_", 1)[0]
        if name not in code_of:
            raise DatasetError(f"{path}, row {line}: video {name!r} is not in the video naming sheet")
        rows.append({"subject": subject_of[participant], "video": code_of[name], "onset": r[2], "apex": r[3],
                     "offset": r[4], "type": CASME_SQ_TYPES.get(str(r[7]).strip().lower(), str(r[7]).strip()), "aus": "" if pd.isna(r[5]) else str(r[5]),
                     "emotion": "" if pd.isna(r[6]) else str(r[6]).strip(), "row": line})
    return pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))


def _casme_sq_folders(frames: Path) -> dict[tuple[str, str], Path]:
    out = {}
    for subject in sorted(p for p in frames.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name)):
        for folder in sorted(p for p in subject.iterdir() if p.is_dir()):
            m = re.fullmatch(r"(\d+)_(\d{4})\w*", folder.name)
            if m:
                out[(subject.name, m.group(2))] = folder
    return out


CASME_SQ = register_long_format(LongVideoFormat(
    name="casme_sq", title="CAS(ME)^2", fps=30.0, channels=3, sheet_glob="CAS(ME)^2code_final*.xlsx",
    frames_dir="rawpic", frame_regex=re.compile(r"img(?P<n>\d+)\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE),
    read_sheet=_casme_sq_sheet, video_folders=_casme_sq_folders))


# ----------------------------------------------------------------------------- SAMM long videos

SAMM_LV_SHEET = "FACS_Movement_Only"
SAMM_LV_NOTE_ROWS = 9
SAMM_LV_HEADER = ("Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
                  "Action Units", "Notes")


def _samm_lv_type(text: str) -> str:
    text = str(text).strip().lower()
    return "micro" if text.startswith("micro") else "macro" if text.startswith("macro") else text


def _samm_lv_sheet(path: Path) -> pd.DataFrame:
    try:
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path}: cannot be read as a workbook ({type(exc).__name__}: {exc})") from None
    if SAMM_LV_SHEET not in book:
        raise DatasetError(f"{path}: no sheet {SAMM_LV_SHEET!r} (sheets: {', '.join(book)})")
    table = book[SAMM_LV_SHEET]
    header = [str(v).strip() for v in table.iloc[SAMM_LV_NOTE_ROWS].values] if len(table) > SAMM_LV_NOTE_ROWS else []
    missing = [c for c in ("Subject", "Filename", "Onset", "Apex", "Offset", "Type") if c not in header]
    if missing:
        raise DatasetError(f"{path}, sheet {SAMM_LV_SHEET}, row {SAMM_LV_NOTE_ROWS + 1}: no column(s) "
                           f"{', '.join(missing)} in the header (found {header})")
    col = {name: header.index(name) for name in header}
    rows = []
    for i in range(SAMM_LV_NOTE_ROWS + 1, len(table)):
        r = table.iloc[i].values
        line = i + 1
        if all(pd.isna(v) for v in r):
            continue
        filename = str(r[col["Filename"]]).strip()
        parts = filename.split("_")
        if len(parts) < 3 or not parts[0].isdigit():
            raise DatasetError(f"{path}, row {line}: Filename {filename!r} is not <subject>_<video>_<expression>")
        rows.append({"subject": parts[0], "video": f"{parts[0]}_{parts[1]}", "onset": r[col["Onset"]],
                     "apex": r[col["Apex"]], "offset": r[col["Offset"]], "type": _samm_lv_type(r[col["Type"]]),
                     "aus": "" if "Action Units" not in col or pd.isna(r[col["Action Units"]]) else str(r[col["Action Units"]]),
                     "emotion": "", "row": line})
    return pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))


def _samm_lv_folders(frames: Path) -> dict[tuple[str, str], Path]:
    return {(p.name.split("_")[0], p.name): p for p in sorted(frames.iterdir())
            if p.is_dir() and re.fullmatch(r"\d+_\d+", p.name)}


SAMM_LV = register_long_format(LongVideoFormat(
    name="samm_lv", title="SAMM long videos", fps=200.0, channels=1, sheet_glob="SAMM_LongVideos_V*_Release.xlsx",
    frames_dir="SAMM_longvideos", frame_regex=re.compile(r"\d+_\d+_(?P<n>\d+)\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE),
    read_sheet=_samm_lv_sheet, video_folders=_samm_lv_folders))


# ----------------------------------------------------------------------------- loading

def video_frames(fmt: LongVideoFormat, folder: Path) -> list[tuple[int, Path]]:
    """(frame number, file) of a video folder, in frame order."""
    frames = []
    for p in folder.iterdir():
        m = fmt.frame_regex.fullmatch(p.name)
        if m:
            frames.append((int(m.group("n")), p))
    return sorted(frames)


def load_long_videos(name: str, root: str | Path, sheet: str | Path | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(videos, intervals, report) of a long-video dataset root. Intervals hold frame numbers; a row whose
    video has no folder, whose type is neither micro nor macro, or whose onset..offset is not inside the
    video is dropped with its reason in the report; a missing onset or offset (0) is taken from the apex
    and reported as repaired."""
    fmt = get_long_format(name)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{fmt.title} root not found: {root}")
    sheet = Path(sheet) if sheet else fmt.find_sheet(root)
    frames_dir = root / fmt.frames_dir
    if not frames_dir.is_dir():
        raise DatasetError(f"{root}: no {fmt.frames_dir}/ folder of videos")
    folders = fmt.video_folders(frames_dir)
    if not folders:
        raise DatasetError(f"{frames_dir}: no video folders")
    videos = []
    for (subject, video), folder in folders.items():
        numbers = [n for n, _ in video_frames(fmt, folder)]
        if len(numbers) < 2:
            raise DatasetError(f"{folder}: {len(numbers)} frame(s); a video needs at least two")
        videos.append({"subject": subject, "video": video, "folder": str(folder), "first": numbers[0],
                       "last": numbers[-1], "frames": len(numbers)})
    videos = pd.DataFrame(videos, columns=list(VIDEO_COLUMNS))
    span = {(v.subject, v.video): (v.first, v.last) for v in videos.itertuples()}
    raw = fmt.read_sheet(sheet)
    kept, report = [], []

    def note(r, action, reason):
        report.append({"row": r["row"], "subject": r["subject"], "video": r["video"], "action": action, "reason": reason})
        (log.warning if action == "dropped" else log.info)("%s row %s (%s %s): %s %s", sheet.name, r["row"],
                                                           r["subject"], r["video"], action, reason)

    for r in raw.to_dict("records"):
        key = (r["subject"], r["video"])
        if key not in span:
            note(r, "dropped", "no frames folder for this video")
            continue
        if r["type"] not in ("micro", "macro"):
            note(r, "dropped", f"expression type {r['type']!r} is neither micro nor macro")
            continue
        onset, apex, offset = (_int(r[k], k, r["row"], sheet) for k in ("onset", "apex", "offset"))
        if onset == 0 and apex > 0:
            onset = apex
            note(r, "repaired", "onset 0 (not coded): the apex is taken")
        if offset == 0 and apex > 0:
            offset = apex
            note(r, "repaired", "offset 0 (not coded): the apex is taken")
        first, last = span[key]
        if not first <= onset <= apex <= offset <= last:
            note(r, "dropped", f"onset {onset}, apex {apex}, offset {offset} not ordered inside the video's "
                               f"frames {first}..{last}")
            continue
        kept.append({**r, "onset": onset, "apex": apex, "offset": offset})
    intervals = pd.DataFrame(kept, columns=list(INTERVAL_COLUMNS))
    return videos, intervals, pd.DataFrame(report, columns=list(REPORT_COLUMNS))
