"""A clip's frames on disk: frame numbers in sheet cells and file names, the frames a clip folder holds
(by number, as found), and the checks a clip's frames pass before it enters the manifest."""

from __future__ import annotations

import re
from pathlib import Path

from ..io import check_image_file, decode_problem, image_size
from .formats import DatasetFormat

MISSING_MARKERS = {"", "/", "-", "na", "n/a", "nan", "none"}


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


# Frames smaller than this on either side are dropped at the manifest (the flow methods' pyramids and
# the EVM levels need a few pixels: DIS refuses frames under 12 px, deep inside the flow stage).
MIN_FRAME_SIDE = 16


class DuplicateFrames(ValueError):
    """Two files of one clip folder carry the same frame number (``f5.jpg`` and ``f05.jpg``)."""


def scan_frames(folder: Path, regex: re.Pattern) -> tuple[dict[int, str], str | None]:
    """Frame number -> file name in ``folder``, and the first file's name pattern (for readers; the
    stages read the names found, :func:`frame_table`). Two files of one number raise
    :class:`DuplicateFrames`."""
    frames: dict[int, str] = {}
    template = None
    for entry in sorted(folder.iterdir()):
        m = regex.fullmatch(entry.name)
        if not m or not entry.is_file():
            continue
        digits = m.group("n")
        if int(digits) in frames:
            raise DuplicateFrames(f"frame number {int(digits)} twice in {folder}: {frames[int(digits)]} and {entry.name}")
        frames[int(digits)] = entry.name
        if template is None:
            pre, post = entry.name[: m.start("n")], entry.name[m.end("n") :]
            padded = len(digits) > 1 and digits.startswith("0")
            field = f"{{frame:0{len(digits)}d}}" if padded else "{frame}"
            template = pre + field + post
    return frames, template


def frame_table(row) -> dict[int, Path]:
    """Frame number -> path of every frame the manifest found in one row's clip folder (a Series, a
    namedtuple or a dict): the names as found, never rebuilt from a pattern (``reg_img0700.jpg`` beside
    ``reg_img701.png`` is fine). Manifests of older versions, without ``frame_files``, use the pattern."""
    import json

    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k, None)
    folder = Path(get("frame_dir"))
    files = get("frame_files")
    if isinstance(files, str) and files:
        return {int(n): folder / name for n, name in json.loads(files).items()}
    template = get("frame_template")
    return {n: folder / template.format(frame=n) for n in range(int(get("onset")), int(get("offset")) + 1)}


def frame_paths(row) -> list[Path]:
    """Paths of frames onset..offset of one manifest row."""
    get = row.get if hasattr(row, "get") else lambda k: getattr(row, k)
    table = frame_table(row)
    return [table[n] for n in range(int(get("onset")), int(get("offset")) + 1)]


def check_frames(folder: Path, spec: DatasetFormat, onset: int, offset: int, verify: str):
    """Return (frames, template, code, reason): the folder's frames (number -> name); code is None when
    every frame onset..offset is usable."""
    if not folder.is_dir():
        return {}, None, "no_clip_folder", f"clip folder not found: {folder}"
    try:
        frames, template = scan_frames(folder, spec.frame_regex)
    except DuplicateFrames as exc:
        return {}, None, "duplicate_frames", str(exc)
    if not frames:
        return {}, None, "empty_clip_folder", f"clip folder has no frame files: {folder}"
    missing = [n for n in range(onset, offset + 1) if n not in frames]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        return frames, template, "missing_frames", f"{len(missing)} missing frame(s) {shown} in {folder}"
    if verify in ("header", "decode"):
        first_size = None
        for n in range(onset, offset + 1):
            path = folder / frames[n]
            problem = check_image_file(path)
            if problem is None and verify == "decode":
                problem = decode_problem(path)
            if problem:
                return frames, template, "corrupt_frame", f"corrupt frame {path} ({problem})"
            size = image_size(path)  # from the header: EVM needs one frame size per clip
            if first_size is None:
                first_size = size
                if size is not None and min(size) < MIN_FRAME_SIDE:
                    return (frames, template, "frame_too_small", f"frame {path} is {size[0]}x{size[1]}: under "
                            f"{MIN_FRAME_SIDE} px a side, too small for EVM and optical flow")
            elif size is not None and size != first_size:
                return (frames, template, "frame_size", f"frame {path} is {size[0]}x{size[1]}, the clip's first frame "
                        f"{folder / frames[onset]} is {first_size[0]}x{first_size[1]}")
    return frames, template, None, None
