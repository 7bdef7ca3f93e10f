"""The clip manifest: one clean row per usable clip, and a report of every row dropped or repaired.

Row checks, in order (the first failing one is the reason reported):
  1. subject and filename present;
  2. label known to the dataset (else ``unknown label``) and kept by the class scheme;
  3. onset and offset are frame numbers, onset <= offset;
  4. apex missing (``/`` in the sheet) -> repaired to the middle frame ``(onset + offset) // 2``;
  5. apex inside onset..offset (else dropped: which of the three numbers is wrong is unknowable);
  6. the clip folder exists, holds frames, and every frame onset..offset exists and passes
     ``verify`` (``exists``: present; ``header``: non-empty, JPEG/PNG signature, JPEG end marker;
     ``decode``: decodes with OpenCV);
  7. the same subject/clip appears only once.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import DatasetError
from ..io import atomic_path, check_image_file, image_size
from .formats import DatasetFormat

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "sample_id", "dataset", "subject", "clip", "label", "raw_label",
    "onset", "apex", "offset", "fps", "n_frames", "frame_dir", "frame_template", "sheet_row",
]
BASE_COLUMNS = ["sample_id", "dataset", "subject", "clip", "label"]
REPORT_COLUMNS = ["dataset", "sheet_row", "subject", "clip", "raw_label", "action", "code", "reason"]
VERIFY_MODES = ("exists", "header", "decode")
MISSING_MARKERS = {"", "/", "-", "na", "n/a", "nan", "none"}
# Subject, clip, sample and run names become folder and file names: letters, digits, '_', '-', '.',
# never '.' or '..' alone (one rule for sheets, bring-your-own CSVs and the run name).
SAFE_NAME = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.-]+$")


def name_problem(value: str, what: str) -> str | None:
    """Why ``value`` cannot be a subject/clip/sample name (None if it can)."""
    if SAFE_NAME.match(value):
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


def parse_frame_number(value) -> int | None:
    """Sheet cell -> frame number; ``None`` for a missing marker such as ``/``; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            return int(value)
        raise ValueError(value)
    text = str(value).strip()
    if text.lower() in MISSING_MARKERS:
        return None
    if re.fullmatch(r"\d+(\.0+)?", text):
        return int(float(text))
    raise ValueError(value)


def scan_frames(folder: Path, regex: re.Pattern) -> tuple[dict[int, str], str | None]:
    """Frame number -> file name in ``folder``, and the template that rebuilds the names."""
    frames: dict[int, str] = {}
    template = None
    for entry in sorted(folder.iterdir()):
        m = regex.fullmatch(entry.name)
        if not m or not entry.is_file():
            continue
        digits = m.group("n")
        frames[int(digits)] = entry.name
        if template is None:
            pre, post = entry.name[: m.start("n")], entry.name[m.end("n") :]
            padded = len(digits) > 1 and digits.startswith("0")
            field = f"{{frame:0{len(digits)}d}}" if padded else "{frame}"
            template = pre + field + post
    return frames, template


def frame_paths(row) -> list[Path]:
    """Paths of frames onset..offset of one manifest row (a Series, a namedtuple or a dict)."""
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k)
    folder, template = Path(get("frame_dir")), get("frame_template")
    return [folder / template.format(frame=n) for n in range(int(get("onset")), int(get("offset")) + 1)]


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


def _check_frames(folder: Path, spec: DatasetFormat, onset: int, offset: int, verify: str):
    """Return (template, code, reason); code is None when every frame onset..offset is usable."""
    if not folder.is_dir():
        return None, "no_clip_folder", f"clip folder not found: {folder}"
    frames, template = scan_frames(folder, spec.frame_regex)
    if not frames:
        return None, "empty_clip_folder", f"clip folder has no frame files: {folder}"
    missing = [n for n in range(onset, offset + 1) if n not in frames]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        return template, "missing_frames", f"{len(missing)} missing frame(s) {shown} in {folder}"
    if verify in ("header", "decode"):
        first_size = None
        for n in range(onset, offset + 1):
            path = folder / frames[n]
            problem = check_image_file(path)
            if problem is None and verify == "decode":
                import cv2

                if cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is None:
                    problem = "cannot be decoded"
            if problem:
                return template, "corrupt_frame", f"corrupt frame {path} ({problem})"
            size = image_size(path)  # from the header: EVM needs one frame size per clip
            if first_size is None:
                first_size = size
            elif size is not None and size != first_size:
                return (template, "frame_size", f"frame {path} is {size[0]}x{size[1]}, the clip's first frame "
                        f"{folder / frames[onset]} is {first_size[0]}x{first_size[1]}")
    return template, None, None


def _chosen_apex(folder: Path, template: str, onset: int, offset: int, mode: str) -> int:
    """The apex frame number chosen by ``mode`` (spotted or middle) for frames onset..offset."""
    import numpy as np

    from ..spotting import choose_apex

    if mode == "middle":
        return (onset + offset) // 2
    from ..io import read_frame

    frames = np.stack([read_frame(folder / template.format(frame=n), gray=True) for n in range(onset, offset + 1)])
    return onset + choose_apex(frames, 0, offset - onset, mode)


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
    apex_mode = apex
    known = {k.lower() for k in known_labels}
    report = _Collector(spec.name)
    kept: list[dict] = []
    seen: dict[str, int] = {}
    for rec in records.to_dict("records"):
        raw_subject, clip = rec.get("subject"), rec.get("clip")
        if _blank(raw_subject) or _blank(clip):
            report.add(rec, "dropped", "empty_id", "empty Subject or Filename")
            continue
        clip = str(clip).strip()
        try:
            subject = spec.subject_id(raw_subject)
        except ValueError:
            report.add(rec, "dropped", "bad_subject", f"cannot read subject {raw_subject!r}")
            continue
        bad = name_problem(subject, "subject") or name_problem(clip, "clip")
        if bad:
            report.add(rec, "dropped", "bad_name", bad, subject)
            continue
        raw_label = "" if rec.get("emotion") is None else str(rec["emotion"]).strip()
        label_key = raw_label.lower()
        if label_key not in known:
            report.add(rec, "dropped", "unknown_label",
                       f"unknown label {raw_label!r} (known: {', '.join(sorted(known))})", subject)
            continue
        if label_key not in label_map:
            report.add(rec, "dropped", "label_not_in_scheme", f"label {raw_label!r} not in class scheme {scheme_name!r}", subject)
            continue
        numbers = {}
        bad = None
        for field in ("onset", "apex", "offset"):
            try:
                numbers[field] = parse_frame_number(rec.get(field))
            except ValueError:
                bad = f"{field} {rec.get(field)!r} is not a frame number"
                break
        if bad:
            report.add(rec, "dropped", "bad_frame_number", bad, subject)
            continue
        onset, apex, offset = numbers["onset"], numbers["apex"], numbers["offset"]
        if onset is None or offset is None:
            report.add(rec, "dropped", "onset_offset_missing",
                       f"onset or offset missing (onset={rec.get('onset')!r}, offset={rec.get('offset')!r})", subject)
            continue
        if onset > offset:
            report.add(rec, "dropped", "onset_after_offset", f"onset {onset} after offset {offset}", subject)
            continue
        if apex is None:
            apex = (onset + offset) // 2
            report.add(rec, "repaired", "apex_missing",
                       f"no apex given ({rec.get('apex_note') or repr(rec.get('apex'))}); used the middle frame {apex}",
                       subject)
        elif apex_mode == "annotated" and not onset <= apex <= offset:  # (an apex to be chosen anew does not matter)
            report.add(rec, "dropped", "apex_outside", f"apex {apex} outside onset..offset {onset}..{offset}", subject)
            continue
        folder = spec.clip_dir(frames_root, subject, clip, raw_label)
        template, code, reason = _check_frames(folder, spec, onset, offset, verify)
        if code:
            report.add(rec, "dropped", code, reason, subject)
            continue
        if apex_mode != "annotated":
            chosen = _chosen_apex(folder, template, onset, offset, apex_mode)
            report.add(rec, "repaired", f"apex_{apex_mode}",
                       f"apex {chosen} {'from the motion' if apex_mode == 'spotted' else '(middle frame)'}; "
                       f"the sheet says {rec.get('apex')!r}", subject)
            apex = chosen
        sample_id = f"{spec.name}/{subject}/{clip}"
        if sample_id in seen:
            report.add(rec, "dropped", "duplicate", f"duplicate of sheet row {seen[sample_id]}", subject)
            continue
        seen[sample_id] = rec.get("excel_row")
        kept.append({
            "sample_id": sample_id, "dataset": spec.name, "subject": subject, "clip": clip,
            "label": label_map[label_key], "raw_label": raw_label,
            "onset": onset, "apex": apex, "offset": offset, "fps": float(spec.fps),
            "n_frames": offset - onset + 1, "frame_dir": str(folder.resolve()),
            "frame_template": template, "sheet_row": rec.get("excel_row"),
        })
    manifest = pd.DataFrame(kept, columns=MANIFEST_COLUMNS)
    issues = pd.DataFrame(report.rows, columns=REPORT_COLUMNS)
    dropped = issues[issues.action == "dropped"]
    log.info(
        "%s: %d clips kept, %d rows dropped, %d repaired (of %d sheet rows)",
        spec.name, len(manifest), len(dropped), int((issues.action == "repaired").sum()), len(records),
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
            f"{spec.name}: no usable clips under {frames_root} (all {len(records)} sheet rows dropped; "
            f"first reasons: {list(dropped.reason[:3])})"
        )
    manifest.attrs["report"] = issues
    return manifest


MANIFEST_DTYPES = {
    "sample_id": str, "dataset": str, "subject": str, "clip": str, "label": str, "raw_label": str,
    "onset": int, "apex": int, "offset": int, "fps": float, "n_frames": int,
    "frame_dir": str, "frame_template": str, "source_subject": str,
    "entry": str, "flow_path": str, "apex_path": str, "onset_path": str, "mask_path": str,
}


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
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: not a manifest (missing columns {missing})")
    return df
