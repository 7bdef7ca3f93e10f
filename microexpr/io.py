"""Small I/O helpers: atomic writes (nothing half-written is ever left behind), frame reading, and clips
(a folder of frames or a video) read for prediction."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import FrameError, PredictError

JPEG_MAGIC = b"\xff\xd8"
_HOST = __import__("hashlib").sha1(__import__("socket").gethostname().encode()).hexdigest()[:6]
PNG_MAGIC = b"\x89PNG"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Works for files and directories. On any exception the temporary is removed and ``path`` is
    left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the writer's pid and host are in the name, so a clean-up never removes the temporary of a live writer
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}@{_HOST}.", suffix=".part", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_stamp(path: str | os.PathLike, content: dict) -> Path:
    """Write ``content`` (JSON) to ``path`` only when it differs from what the file holds: a stamp's
    modification time then says when what it describes last changed. The workflow gives every job a
    stamp of its code and data fingerprints as an input, so a change re-runs the job by file times
    alone, also in a results folder copied without Snakemake's own records."""
    import json

    path = Path(path)
    text = json.dumps(content, sort_keys=True, indent=1) + "\n"
    try:
        if path.read_text() == text:
            return path
    except OSError:
        pass
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def check_image_file(path: Path) -> str | None:
    """Cheap integrity check of an image file; returns a reason string if it is unusable.

    Checks existence, non-zero size and the JPEG/PNG/BMP signature; for JPEG the end-of-image marker
    and for BMP the file size in its header, which a truncated copy lacks. It does not decode.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if size == 0:
        return "empty file"
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(JPEG_MAGIC):
            fh.seek(max(0, size - 16))
            tail = fh.read()
            if b"\xff\xd9" not in tail:
                return "truncated JPEG (no end-of-image marker)"
            return None
        if head.startswith(PNG_MAGIC):
            fh.seek(max(0, size - 12))
            if b"IEND" not in fh.read():
                return "truncated PNG (no IEND chunk)"
            return None
        if head.startswith(b"BM"):
            fh.seek(2)
            declared = int.from_bytes(fh.read(4), "little")
            return None if declared == size else f"truncated BMP ({size} of {declared} bytes)"
    return "not a JPEG, PNG or BMP file"


def decode_problem(path: str | os.PathLike) -> str | None:
    """Decode one image fully; the reason it is unusable, or None. libjpeg decodes a JPEG damaged in its
    middle with only a warning on the process's standard error ("Corrupt JPEG data"), so that is read too."""
    import cv2

    sys.stderr.flush()
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        said = err.read().decode(errors="replace")
    if img is None:
        return "cannot be decoded"
    damaged = [line for line in said.splitlines() if "corrupt" in line.lower() or "premature" in line.lower()]
    return f"damaged image data: {damaged[0].strip()}" if damaged else None


def to_8bit(img: np.ndarray, path: str | os.PathLike = "") -> np.ndarray:
    """16-bit frames as 8-bit: 8-bit values stored in 16 bits (all <= 255) are kept, real 16-bit ranges
    are scaled by 255/65535 (OpenCV's own conversion would shift either to near black)."""
    if img.dtype == np.uint8:
        return img
    if img.dtype != np.uint16:
        raise FrameError(f"frame {path} has samples of type {img.dtype}; 8- or 16-bit images are read")
    if int(img.max(initial=0)) <= 255:
        return img.astype(np.uint8)
    return np.rint(img.astype(np.float32) * (255 / 65535)).astype(np.uint8)


def read_frame(path: str | os.PathLike, *, gray: bool = False) -> np.ndarray:
    """Read one frame with OpenCV (8-bit; 16-bit frames through :func:`to_8bit`); raise
    :class:`FrameError` naming the file if it cannot be read."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FrameError(f"frame file not found: {path}")
    # ANYDEPTH keeps 16 bits (8-bit files decode exactly as with IMREAD_GRAYSCALE alone)
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH if gray else cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FrameError(f"cannot decode frame (corrupt or not an image): {path}")
    return to_8bit(img, path)


_PART = re.compile(r"^\..+?(?:\.(\d+)@([0-9a-f]{6}))?\.[A-Za-z0-9_]+\.part$")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return pid != 0


def remove_partials(root: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders :func:`atomic_path` leaves when its process is killed (SIGKILL
    skips every clean-up): hidden ``.<name>.<pid>.<random>.part`` folders anywhere under ``root``
    whose writer, on this machine, is no longer running (those written on other machines, e.g. by
    cluster jobs, are kept: their processes cannot be checked from here). The workflow calls it as each
    run starts."""
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for folder, dirs, _ in os.walk(root):
        for d in list(dirs):
            m = _PART.match(d)
            if m and (m.group(2) is None or (m.group(2) == _HOST and not _alive(int(m.group(1))))):
                shutil.rmtree(Path(folder) / d, ignore_errors=True)
                removed.append(Path(folder) / d)
                dirs.remove(d)
    return removed


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) from a JPEG, PNG or BMP header without decoding; None if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
            if head.startswith(PNG_MAGIC) and len(head) >= 24:
                return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            if head.startswith(b"BM") and len(head) >= 26:
                return int.from_bytes(head[18:22], "little", signed=True), abs(
                    int.from_bytes(head[22:26], "little", signed=True))
            if not head.startswith(JPEG_MAGIC):
                return None
            fh.seek(2)
            while True:
                marker = fh.read(2)
                if len(marker) < 2 or marker[0] != 0xFF:
                    return None
                while marker[1] == 0xFF:  # fill bytes
                    marker = marker[1:] + fh.read(1)
                kind = marker[1]
                if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
                    continue
                length = int.from_bytes(fh.read(2), "big")
                if kind in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    data = fh.read(5)
                    return int.from_bytes(data[3:5], "big"), int.from_bytes(data[1:3], "big")
                fh.seek(length - 2, 1)
    except OSError:
        return None


def open_video(path: str | os.PathLike):
    """``cv2.VideoCapture`` of ``path`` with FFmpeg's own log quiet (its messages about a damaged file would
    otherwise go to the terminal beside the project's own, which name the file); a user who wants them
    sets ``OPENCV_FFMPEG_LOGLEVEL``."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    return cv2.VideoCapture(str(path))


_NUMBER = re.compile(r"(\d+)(?!.*\d)")  # the last number in a file name
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class Clip:
    """A clip read for prediction: gray frames, their numbers, frames per second and where it came from."""

    source: str
    frames: np.ndarray
    numbers: list[int]
    fps: float
    notes: list[str] = field(default_factory=list)


# The longest clip read (frames): a clip is held as 8-bit gray frames and EVM works on float32 copies of
# the onset..offset span, so memory grows with frames x height x width (docs/predict.md).
MAX_FRAMES = 1000


def _too_long(path: Path, n: int, max_frames: int) -> PredictError:
    return PredictError(f"{path}: {n} frames, more than the {max_frames} read at most (a micro-expression lasts "
                        f"under 0.5 s): cut the clip around the expression, or raise --max-frames")


def frame_files(folder: Path) -> tuple[list[Path], list[int]]:
    """The image files of a folder that have a number in their name, ordered by the last such number, and
    those numbers."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and _NUMBER.search(p.stem)]
    files.sort(key=lambda p: int(_NUMBER.search(p.stem).group(1)))
    return files, [int(_NUMBER.search(p.stem).group(1)) for p in files]


def read_clip(path: str | Path, fps: float | None = None, max_frames: int = MAX_FRAMES) -> Clip:
    """A folder of frames (ordered by the last number in each file name) or a video file OpenCV reads;
    longer than ``max_frames`` frames is refused before the frames are read."""
    import cv2

    path = Path(path)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise PredictError(f"{path}: the frame rate must be a positive number, got {fps}")
    if path.is_dir():
        files, numbers = frame_files(path)
        if len(files) > max_frames:
            raise _too_long(path, len(files), max_frames)
        if len(files) < 2:
            raise PredictError(f"{path}: needs at least two frames (JPEG/PNG/BMP with a number in the name), found {len(files)}")
        frames = [read_frame(p, gray=True) for p in files]
        if fps is None:
            raise PredictError(f"{path}: a folder of frames has no frame rate: give --fps")
    elif path.is_file():
        cap = open_video(path)
        if not cap.isOpened():
            raise PredictError(f"{path}: cannot be read as a video")
        stated = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if stated > max_frames:
            cap.release()
            raise _too_long(path, stated, max_frames)
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if len(frames) == max_frames:  # a container that under-states its length
                cap.release()
                raise _too_long(path, len(frames) + 1, max_frames)
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
        video_fps = cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        if len(frames) < 2:
            raise PredictError(f"{path}: needs at least two frames, the video has {len(frames)}")
        numbers = list(range(len(frames)))
        fps = fps or (video_fps if video_fps and video_fps > 0 else None)
        if fps is None:
            raise PredictError(f"{path}: the video states no frame rate: give --fps")
    else:
        raise PredictError(f"input not found: {path}")
    sizes = {f.shape for f in frames}
    if len(sizes) > 1:
        raise PredictError(f"{path}: frames of different sizes {sorted(sizes)}")
    return Clip(str(path), np.stack(frames), numbers, float(fps))
