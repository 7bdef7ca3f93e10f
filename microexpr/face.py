"""Face detection and cropping for data delivered uncropped (SAMM frames, CASME II RAW, SMIC, ...).

The detector (``detector``) is OpenCV's frontal-face Haar cascade, whose model file ships inside the
installed ``opencv-contrib-python-headless`` wheel (``cv2.data.haarcascades``), or dlib's HOG detector
(the ``faces`` extra, :mod:`microexpr.align`): nothing is downloaded. The face is detected on each clip's
onset frame (the largest, for dlib the best-scoring, detection wins); the box, widened by ``margin`` on
every side and made square, is applied to every frame of the clip; with ``align`` (dlib only) each clip
is warped instead by the eyes its onset frame shows into an aligned face (eyes level, a fixed distance
apart: :mod:`microexpr.align`). Clips where no face is found are listed by name and left out of the
later stages (a logged, counted skip).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets.frames import frame_paths
from .errors import DatasetError
from .io import atomic_path, read_frame

log = logging.getLogger(__name__)
CASCADE = "haarcascade_frontalface_default.xml"
CROP_COLUMNS = ["sample_id", "subject", "clip", "found", "x0", "y0", "x1", "y1", "reason", "transform"]


@lru_cache(maxsize=2)
def _cascade(name: str = CASCADE):
    import cv2

    path = os.path.join(cv2.data.haarcascades, name)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise DatasetError(f"cannot load the face detector {path} (is opencv-contrib-python-headless 4.x installed?)")
    return cascade


@dataclass(frozen=True)
class FaceSettings:
    """The ``face`` section of the configuration (the only place its defaults are written)."""

    detect: bool = False    # crop every clip to the face found on its onset frame (the workflow's switch)
    margin: float = 0.1     # widen the detected box by this share of its side, per side
    min_size: int = 40      # smallest face, px
    min_neighbors: int = 3  # Haar cascade strictness
    detector: str = "haar"  # haar (OpenCV, always installed) or dlib (HOG; the faces extra)
    align: bool = False     # detector dlib: warp each clip by the eyes found on its onset frame (microexpr.align)


_F = FaceSettings()


def detect_face(gray: np.ndarray, *, min_size: int = _F.min_size, scale_factor: float = 1.1,
                min_neighbors: int = _F.min_neighbors, detector: str = _F.detector) -> tuple[int, int, int, int] | None:
    """The largest frontal face (``detector`` dlib: the best-scoring one) in a gray image as (x, y, w, h), or None."""
    if detector == "dlib":
        from .align import face_box

        box = face_box(gray)
        return box if box is not None and min(box[2], box[3]) >= min_size else None
    if detector != "haar":
        raise DatasetError(f"face detector must be haar or dlib, got {detector!r}")
    faces = _cascade().detectMultiScale(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                        minSize=(min_size, min_size))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces.tolist(), key=lambda b: b[2] * b[3])
    return int(x), int(y), int(w), int(h)


def crop_box(face: tuple[int, int, int, int], margin: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square (x0, y0, x1, y1) around ``face`` widened by ``margin`` of its size per side, inside ``shape``."""
    x, y, w, h = face
    side = int(round(max(w, h) * (1 + 2 * margin)))
    side = min(side, shape[0], shape[1])
    cx, cy = x + w / 2, y + h / 2
    x0 = int(round(min(max(cx - side / 2, 0), shape[1] - side)))
    y0 = int(round(min(max(cy - side / 2, 0), shape[0] - side)))
    return x0, y0, x0 + side, y0 + side


def detect_subject(manifest: pd.DataFrame, subject: str, out: str | Path, **face) -> pd.DataFrame:
    """Crop boxes of every clip of ``subject`` (detected on the onset frame) -> a TSV. ``face``: the
    fields of :class:`FaceSettings` (the configuration's ``face`` section)."""
    from .config import typed_section

    settings = typed_section(FaceSettings, face, "face")
    margin, min_size, min_neighbors = settings.margin, settings.min_size, settings.min_neighbors
    if settings.align and settings.detector != "dlib":
        raise DatasetError("config key 'face.align': aligning by the eyes needs face.detector: dlib")
    if settings.detector == "dlib":
        from .align import AlignError, _require

        try:
            _require()
        except AlignError as exc:
            raise DatasetError(f"config key 'face.detector': {exc}") from None
    rows = []
    for row in manifest[manifest.subject == subject].to_dict("records"):
        onset = read_frame(frame_paths(row)[0], gray=True)
        face = detect_face(onset, min_size=min_size, min_neighbors=min_neighbors, detector=settings.detector)
        rec = {"sample_id": row["sample_id"], "subject": subject, "clip": row["clip"], "found": face is not None}
        transform = ""
        if face is not None and settings.align:
            from .align import eye_centres, eye_transform

            eyes = eye_centres(onset, face)  # the face the detector found, not found again
            if eyes is None:
                face = None
            else:
                transform = " ".join(f"{v:.6g}" for v in eye_transform(*eyes).ravel())
        if face is None:
            rec.update(x0=-1, y0=-1, x1=-1, y1=-1, reason=f"no face found on the onset frame {frame_paths(row)[0]}",
                       transform="")
            log.warning("%s: no face found on its onset frame; the clip is left out", row["sample_id"])
        else:
            x0, y0, x1, y1 = crop_box(face, margin, onset.shape)
            rec.update(x0=x0, y0=y0, x1=x1, y1=y1, reason="", transform=transform)
        rows.append(rec)
    if not rows:
        raise DatasetError(f"subject {subject!r} has no clips in the manifest")
    table = pd.DataFrame(rows, columns=CROP_COLUMNS)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    log.info("faces of %s: found in %d of %d clips", subject, int(table.found.sum()), len(table))
    return table


def read_crops(path: str | Path) -> dict[str, tuple[int, int, int, int] | None]:
    table = pd.read_csv(path, sep="\t", dtype={"subject": str, "clip": str})
    return {r.sample_id: ((r.x0, r.y0, r.x1, r.y1) if r.found else None) for r in table.itertuples()}


def read_transforms(path: str | Path) -> dict[str, np.ndarray]:
    """The eye alignments of a crops file written with ``align`` (sample_id -> 2 x 3), empty without."""
    table = pd.read_csv(path, sep="\t", dtype={"subject": str, "clip": str, "transform": str}, keep_default_na=False)
    if "transform" not in table:
        return {}
    return {r.sample_id: np.array([float(v) for v in r.transform.split()]).reshape(2, 3)
            for r in table.itertuples() if r.found and r.transform}
