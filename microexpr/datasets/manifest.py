"""The clip manifest: one clean row per usable clip, and a report of every row dropped or repaired.

Row checks, in order (the first failing one is the reason reported):
  1. subject and filename present, and safe as folder names;
  2. label known to the dataset (else ``unknown label``) and kept by the class scheme;
  3. no coding cell is a formula without a saved value;
  4. onset and offset are frame numbers, onset < offset (a one-frame clip has no motion);
  5. apex missing (``/`` in the sheet) -> repaired to the middle frame ``(onset + offset) // 2``;
  6. apex inside onset..offset (else dropped: which of the three numbers is wrong is unknowable);
  7. the clip folder exists, holds frames, no frame number twice (``f5.jpg`` and ``f05.jpg``), and every
     frame onset..offset exists and passes ``verify`` (``exists``: present; ``header``: non-empty,
     JPEG/PNG/BMP signature, JPEG end marker, PNG end chunk, one size per clip, at least
     ``frames.MIN_FRAME_SIDE`` px a side; ``decode``: decodes fully, libjpeg's damage warnings included);
  8. the same subject/clip appears only once; two rows that code it differently are both dropped.

The names of the frames found are kept (``frame_files``): later stages read those files, never names
rebuilt from a pattern.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import DatasetError
from ..io import atomic_path
from ..sampleid import SampleId
from .formats import DatasetFormat
from .frames import MISSING_MARKERS, check_frames, parse_frame_number

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "sample_id", "dataset", "subject", "clip", "label", "raw_label",
    "onset", "apex", "offset", "fps", "n_frames", "frame_dir", "frame_template", "frame_files", "sheet_row",
    "action_units",
]
OPTIONAL_COLUMNS = {"action_units": "[]"}  # added later: a manifest written before reads with these values
BASE_COLUMNS = ["sample_id", "dataset", "subject", "clip", "label"]
REPORT_COLUMNS = ["dataset", "sheet_row", "subject", "clip", "raw_label", "action", "code", "reason"]
VERIFY_MODES = ("exists", "header", "decode")
# Subject, clip, sample and run names become folder and file names: letters, digits, '_', '-', '.',
# never '.' or '..' alone (one rule for sheets, bring-your-own CSVs and the run name).
SAFE_NAME = re.compile(r"(?!\.{1,2}\Z)[A-Za-z0-9_.-]+")  # always fullmatch: "$" lets a final newline pass


# One action unit as the coding sheets write it: an optional side (L, R; U unilateral, B bilateral),
# the AU number, an optional intensity (A-E); "AU" before the number is optional (AU4, 4, R12, L4, 12B).
AU_TOKEN = re.compile(r"([LRUB]?)(?:AU)?(\d{1,3})([A-E]?)")


def parse_action_units(cell) -> tuple[list[str], list[str]]:
    """An ``Action Units`` cell -> (its AUs in one spelling: ``4``, ``R12``, ``L4``, ``12B``; the parts that
    are no AU). ``AU4+AU7``, ``4+7``, ``4, 7`` and ``AU 4 + AU 7`` all give ``["4", "7"]``; a blank
    cell (or a missing marker such as ``/``) gives none."""
    if _blank(cell) or str(cell).strip().lower() in MISSING_MARKERS:
        return [], []
    if isinstance(cell, float) and cell.is_integer():  # a number cell: 4.0 -> 4
        cell = int(cell)
    text = re.sub(r"(?i)\bAU\s+", "AU", str(cell).strip())
    aus, bad = [], []
    for token in re.split(r"[+,;&\s]+", text):
        if not token:
            continue
        m = AU_TOKEN.fullmatch(token.upper())
        if m is None:
            bad.append(token)
            continue
        au = f"{m.group(1)}{int(m.group(2))}{m.group(3)}"
        if au not in aus:
            aus.append(au)
    return aus, bad


def action_units(row) -> list[str]:
    """The AUs of one manifest row (a list; none for a manifest without the column)."""
    return json.loads(row.get("action_units") or "[]") if hasattr(row, "get") else json.loads(row or "[]")


def name_problem(value: str, what: str) -> str | None:
    """Why ``value`` cannot be a subject/clip/sample name (None if it can)."""
    if SAFE_NAME.fullmatch(value):
        return None
    return (f"{what} {value!r} is not a safe name (letters, digits, '_', '-', '.'; not '.' or '..'): "
            "it becomes a folder and file name")


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def text_subject_id(value) -> str:
    """Subject ids used as written (SMIC ``s1``, CAS(ME)^3 ``spNO.1``, MMEW ``S01``)."""
    text = str(value).strip()
    if not text:
        raise ValueError(value)
    return text


class _Collector:
    def __init__(self, dataset: str):
        self.dataset = dataset
        self.rows: list[dict] = []

    def add(self, rec: dict, action: str, code: str, reason: str, subject: str | None = None) -> None:
        if subject is None and rec.get("subject") is not None:
            subject = str(rec.get("subject"))
        self.rows.append({
            "dataset": self.dataset,
            "sheet_row": rec.get("excel_row"),
            "subject": subject,
            "clip": None if _blank(rec.get("clip")) else str(rec.get("clip")).strip(),
            "raw_label": None if rec.get("emotion") is None else str(rec.get("emotion")),
            "action": action,
            "code": code,
            "reason": reason,
        })


def _chosen_apex(folder: Path, frames: dict[int, str], onset: int, offset: int, mode: str) -> int:
    """The apex frame number chosen by ``mode`` (spotted or middle) for frames onset..offset."""
    import numpy as np

    from ..spotting import choose_apex

    if mode == "middle":
        return (onset + offset) // 2
    from ..io import read_frame

    clip = np.stack([read_frame(folder / frames[n], gray=True) for n in range(onset, offset + 1)])
    return onset + choose_apex(clip, 0, offset - onset, mode)


class _Drop(Exception):
    """A sheet row that cannot be used: its report code, the reason and the subject (where known)."""

    def __init__(self, code: str, reason: str, subject: str | None = None):
        super().__init__(reason)
        self.code, self.reason, self.subject = code, reason, subject


def _ids_and_label(rec: dict, spec: DatasetFormat, known: set, label_map: dict, scheme_name: str):
    """(subject, clip, raw label) of a sheet row whose ids and label can be used, or :class:`_Drop`."""
    raw_subject, clip = rec.get("subject"), rec.get("clip")
    if _blank(raw_subject) or _blank(clip):
        raise _Drop("empty_id", "empty Subject or Filename")
    clip = str(clip).strip()
    try:
        subject = spec.subject_id(raw_subject)
    except ValueError:
        raise _Drop("bad_subject", f"cannot read subject {raw_subject!r}") from None
    bad = name_problem(subject, "subject") or name_problem(clip, "clip")
    if bad:
        raise _Drop("bad_name", bad, subject)
    raw_label = "" if rec.get("emotion") is None else str(rec["emotion"]).strip()
    if raw_label.lower() not in known:
        raise _Drop("unknown_label", f"unknown label {raw_label!r} (known: {', '.join(sorted(known))})", subject)
    if raw_label.lower() not in label_map:
        raise _Drop("label_not_in_scheme", f"label {raw_label!r} not in class scheme {scheme_name!r}", subject)
    if rec.get("formulas"):
        raise _Drop("formula_without_value", f"formula cell(s) with no saved value ({rec['formulas']}): open the "
                    "sheet in a spreadsheet program and save it, so the values are stored", subject)
    return subject, clip, raw_label


def _frame_numbers(rec: dict, subject: str, apex_mode: str, report: _Collector) -> tuple[int, int, int]:
    """Onset, apex and offset of a sheet row (a missing apex repaired as the middle frame), or :class:`_Drop`."""
    numbers = {}
    for field in ("onset", "apex", "offset"):
        try:
            numbers[field] = parse_frame_number(rec.get(field))
        except ValueError:
            raise _Drop("bad_frame_number", f"{field} {rec.get(field)!r} is not a frame number", subject) from None
    onset, apex, offset = numbers["onset"], numbers["apex"], numbers["offset"]
    if onset is None or offset is None:
        raise _Drop("onset_offset_missing",
                    f"onset or offset missing (onset={rec.get('onset')!r}, offset={rec.get('offset')!r})", subject)
    if onset > offset:
        raise _Drop("onset_after_offset", f"onset {onset} after offset {offset}", subject)
    if onset == offset:
        raise _Drop("one_frame", f"onset and offset are both frame {onset}: a one-frame clip has no motion to "
                    "learn from", subject)
    if apex is None:
        apex = (onset + offset) // 2
        report.add(rec, "repaired", "apex_missing",
                   f"no apex given ({rec.get('apex_note') or repr(rec.get('apex'))}); used the middle frame {apex}",
                   subject)
    elif apex_mode == "annotated" and not onset <= apex <= offset:  # (an apex to be chosen anew does not matter)
        raise _Drop("apex_outside", f"apex {apex} outside onset..offset {onset}..{offset}", subject)
    return onset, apex, offset


def _manifest_row(rec: dict, spec: DatasetFormat, frames_root: Path, label_map: dict, known: set, scheme_name: str,
                  verify: str, apex_mode: str, report: _Collector) -> tuple[dict, str | None]:
    """One sheet row checked against the sheet's rules and its frames: the manifest row and a note on its
    Action Units cell where part of it is no action unit (the clip is kept), or :class:`_Drop`."""
    subject, clip, raw_label = _ids_and_label(rec, spec, known, label_map, scheme_name)
    onset, apex, offset = _frame_numbers(rec, subject, apex_mode, report)
    folder = spec.clip_dir(frames_root, subject, clip, raw_label)
    frames, template, code, reason = check_frames(folder, spec, onset, offset, verify)
    if code:
        raise _Drop(code, reason, subject)
    if apex_mode != "annotated":
        chosen = _chosen_apex(folder, frames, onset, offset, apex_mode)
        report.add(rec, "repaired", f"apex_{apex_mode}",
                   f"apex {chosen} {'from the motion' if apex_mode == 'spotted' else '(middle frame)'}; "
                   f"the sheet says {rec.get('apex')!r}", subject)
        apex = chosen
    aus, not_aus = parse_action_units(rec.get("action_units"))
    note = (f"Action Units {rec.get('action_units')!r}: {', '.join(map(repr, not_aus))} not read as an action unit; "
            f"kept {'+'.join(aus) or 'none'}") if not_aus else None
    return {
        "sample_id": str(SampleId(spec.name, subject, clip)), "dataset": spec.name, "subject": subject, "clip": clip,
        "label": label_map[raw_label.lower()], "raw_label": raw_label,
        "onset": onset, "apex": apex, "offset": offset, "fps": float(spec.fps),
        "n_frames": offset - onset + 1, "frame_dir": str(folder.resolve()),
        "frame_template": template, "frame_files": json.dumps({str(n): frames[n] for n in sorted(frames)}),
        "sheet_row": rec.get("excel_row"), "action_units": json.dumps(aus),
    }, note


def _duplicate(rec: dict, row: dict, seen: dict, kept: list, report: _Collector) -> bool:
    """Whether ``row`` repeats a clip already seen; a repeat that codes it differently drops both rows
    (which one is right is unknowable), each reported."""
    if row["sample_id"] not in seen:
        return False
    first, subject = seen[row["sample_id"]], row["subject"]
    conflict = first is not None and any(first[k] != row[k] for k in ("label", "onset", "apex", "offset"))
    if conflict:
        kept.remove(first)
        seen[row["sample_id"]] = None
        what = (f"sheet rows {first['sheet_row']} and {rec.get('excel_row')} code {subject}/{row['clip']} "
                f"differently ({first['raw_label']} {first['onset']}-{first['apex']}-{first['offset']} vs "
                f"{row['raw_label']} {row['onset']}-{row['apex']}-{row['offset']})")
        report.add({**rec, "excel_row": first["sheet_row"], "emotion": first["raw_label"]}, "dropped",
                   "conflicting_duplicate", what, subject)
        report.add(rec, "dropped", "conflicting_duplicate", what, subject)
    else:
        where = "an earlier conflicting row" if first is None else f"sheet row {first['sheet_row']}"
        report.add(rec, "dropped", "duplicate", f"duplicate of {where}", subject)
    return True


def build_manifest(
    records: pd.DataFrame,
    spec: DatasetFormat,
    frames_root: Path,
    label_map: dict[str, str],
    known_labels: Iterable[str],
    *,
    scheme_name: str,
    verify: str = "header",
    strict: bool = False,
    apex: str = "annotated",
) -> pd.DataFrame:
    """Apply the row checks to sheet ``records``; return the manifest with ``attrs['report']``."""
    from ..spotting import APEX_MODES

    if verify not in VERIFY_MODES:
        raise DatasetError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
    if apex not in APEX_MODES:
        raise DatasetError(f"apex must be one of {APEX_MODES}, got {apex!r}")
    known = {k.lower() for k in known_labels}
    report = _Collector(spec.name)
    kept: list[dict] = []
    seen: dict[str, dict | None] = {}  # sample id -> its kept row (None: dropped for a conflict)
    for rec in records.to_dict("records"):
        try:
            row, note = _manifest_row(rec, spec, frames_root, label_map, known, scheme_name, verify, apex, report)
        except _Drop as drop:
            report.add(rec, "dropped", drop.code, drop.reason, drop.subject)
            continue
        if _duplicate(rec, row, seen, kept, report):
            continue
        kept.append(row)
        seen[row["sample_id"]] = row
        if note:  # the clip is kept (its class does not depend on them); the cell is named
            report.add(rec, "repaired", "bad_action_units", note, row["subject"])
    return _finish(pd.DataFrame(kept, columns=MANIFEST_COLUMNS), pd.DataFrame(report.rows, columns=REPORT_COLUMNS),
                   spec, frames_root, len(records), strict)


def _finish(manifest: pd.DataFrame, issues: pd.DataFrame, spec: DatasetFormat, frames_root: Path, n_rows: int,
            strict: bool) -> pd.DataFrame:
    """The manifest with its report, the counts logged; strict mode stops at any broken row."""
    dropped = issues[issues.action == "dropped"]
    log.info(
        "%s: %d clips kept, %d rows dropped, %d repaired (of %d sheet rows)",
        spec.name, len(manifest), len(dropped), int((issues.action == "repaired").sum()), n_rows,
    )
    for code, n in Counter(dropped.code).most_common():
        log.info("  dropped %d row(s): %s", n, code)
    # strict: no row of the data is broken; rows outside the chosen class scheme are a choice, not damage
    broken = dropped[dropped.code != "label_not_in_scheme"]
    if strict and len(broken):
        lines = "\n".join(f"  row {r.sheet_row} ({r.subject}/{r.clip}): {r.reason}" for r in broken.itertuples())
        raise DatasetError(f"{spec.name}: {len(broken)} sheet row(s) cannot be used (strict mode):\n{lines}")
    if manifest.empty:
        raise DatasetError(
            f"{spec.name}: no usable clips under {frames_root} (all {n_rows} sheet rows dropped; "
            f"first reasons: {list(dropped.reason[:3])})"
        )
    manifest.attrs["report"] = issues
    return manifest


MANIFEST_DTYPES = {
    "sample_id": str, "dataset": str, "subject": str, "clip": str, "label": str, "raw_label": str,
    "onset": int, "apex": int, "offset": int, "fps": float, "n_frames": int,
    "frame_dir": str, "frame_template": str, "frame_files": str, "source_subject": str,
    "entry": str, "flow_path": str, "apex_path": str, "onset_path": str, "mask_path": str, "action_units": str,
}


def require_classes(manifest: pd.DataFrame, source: str) -> None:
    """A run learns and scores at least two classes: a manifest of fewer is refused (UF1 over one class
    would read 1.0)."""
    found = sorted(set(manifest["label"]))
    if len(found) < 2:
        raise DatasetError(f"{source}: the usable clips hold {len(found)} class(es) {found}; learning and scoring "
                           "need at least two (see dataset.classes and the manifest report)")


def write_manifest(manifest: pd.DataFrame, path: str | Path, report_path: str | Path | None = None) -> None:
    """Write the manifest (and its report) as TSV, atomically."""
    with atomic_path(path) as tmp:
        manifest.to_csv(tmp, sep="\t", index=False)
    if report_path is not None:
        report = manifest.attrs.get("report", pd.DataFrame(columns=REPORT_COLUMNS))
        with atomic_path(report_path) as tmp:
            report.to_csv(tmp, sep="\t", index=False)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest TSV back with its types (subject ids stay text: ``'006'``, not 6)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"manifest not found: {path}")
    df = pd.read_csv(path, sep="\t", dtype=MANIFEST_DTYPES, keep_default_na=False)
    required = BASE_COLUMNS if "entry" in df.columns else MANIFEST_COLUMNS  # bring-your-own: no frames
    missing = [c for c in required if c not in df.columns and c not in OPTIONAL_COLUMNS]
    if missing:
        raise DatasetError(f"{path}: not a manifest (missing columns {missing})")
    for column, value in OPTIONAL_COLUMNS.items():
        if column not in df.columns and "entry" not in df.columns:
            df[column] = value
    return df
