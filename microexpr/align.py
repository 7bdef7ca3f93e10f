"""Face alignment by the eyes: dlib's HOG face detector and 68-point landmark model (the ``faces`` extra:
``dlib-bin`` and ``face-recognition-models``, whose model file is read from the installed package; nothing
is downloaded), then one similarity transform that puts the eyes level, a fixed distance apart, at fixed
places of an output face of a fixed size.

The output layout is the one the synthetic face crops have (and :mod:`microexpr.longspot`'s eye band
assumes): eyes at :data:`EYE_Y` of the height, :data:`EYE_DISTANCE` of the width apart, centred.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from .errors import MicroexprError

EYE_Y = 0.42          # the eyes' height in the output, as a share of its height
EYE_DISTANCE = 0.29   # the distance between the eyes' centres, as a share of the output's width
OUTPUT = (128, 104)   # (height, width) of an aligned face
LANDMARKS = "shape_predictor_68_face_landmarks.dat"
# dlib's detection score threshold, lowered from its 0: a video of a face is expected to show one, and the
# best-scoring detection is taken (on the synthetic scenes of benchmarks/longspot.py --uncropped, 0 found
# 6 of 11 faces, -0.5 all 11 with boxes overlapping the true ones by IoU 0.60-0.77; a scene without a face
# is then likelier to give a false one)
DETECT_THRESHOLD = -0.5
# a frame whose face box (dlib's) is at least this share of its width wide is a face crop already (on the
# synthetic faces: 0.77-1.03 on crops, 0.39-0.46 on scenes twice their size; a face in a 640 x 480 scene
# about 0.3)
CROP_BOX = 0.6
# the 68-point model's eye contours (0-based): the subject's right eye is on the image's left
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)


class AlignError(MicroexprError):
    """Alignment is not installed, or found no face; the message says which."""


def available() -> bool:
    """Whether dlib and the landmark model are installed (the ``faces`` extra)."""
    return find_spec("dlib") is not None and _model_path() is not None


def _model_path() -> Path | None:
    spec = find_spec("face_recognition_models")  # its __init__ needs pkg_resources: read the files only
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / LANDMARKS
    return path if path.is_file() else None


def _require() -> None:
    if not available():
        raise AlignError("face alignment needs dlib and its landmark model: pip install -e '.[faces]' "
                         "(dlib-bin and face-recognition-models)")


@lru_cache(maxsize=1)
def _detector():
    _require()
    import dlib

    return dlib.get_frontal_face_detector()  # about 0.3 s to build


@lru_cache(maxsize=1)
def _predictor():
    _require()
    import dlib

    return dlib.shape_predictor(str(_model_path()))  # about 0.5 s to read: only where eyes are wanted


def face_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The best-scoring face as (x, y, w, h) inside the image, or None (dlib's HOG detector, at its
    threshold :data:`DETECT_THRESHOLD`; a small face is looked for once more at twice the size)."""
    gray = np.ascontiguousarray(gray)
    for upsample in (1, 2):
        faces, scores, _ = _detector().run(gray, upsample, DETECT_THRESHOLD)
        if len(faces):
            face = faces[int(np.argmax(scores))]
            h, w = gray.shape[:2]
            x0, y0 = max(0, face.left()), max(0, face.top())
            x1, y1 = min(w, face.right()), min(h, face.bottom())
            return (int(x0), int(y0), int(x1 - x0), int(y1 - y0)) if x1 > x0 and y1 > y0 else None
    return None


def eye_centres(gray: np.ndarray, box: tuple[int, int, int, int] | None = None
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """(image-left eye, image-right eye) centres (x, y) of the face in ``box`` (found with :func:`face_box`
    where not given), or None where there is none."""
    import dlib

    gray = np.ascontiguousarray(gray)
    box = face_box(gray) if box is None else box
    if box is None:
        return None
    x, y, w, h = box
    shape = _predictor()(gray, dlib.rectangle(x, y, x + w, y + h))
    pts = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
    return pts[LEFT_EYE].mean(axis=0), pts[RIGHT_EYE].mean(axis=0)


def is_crop(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> bool:
    """Whether a face box of dlib's says the frame is a face crop already (:data:`CROP_BOX`)."""
    return box[2] >= CROP_BOX * shape[1]


def scene_face(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The face box (x, y, w, h) where ``gray`` shows a face smaller than a face crop, else None (no face,
    or the frame is a crop). Only the detector runs: no landmarks."""
    box = face_box(gray)
    return None if box is None or is_crop(box, gray.shape) else box


def eye_transform(left: np.ndarray, right: np.ndarray, output: tuple[int, int] = OUTPUT) -> np.ndarray:
    """The 2 x 3 similarity (rotation, scale, translation) that takes the eye centres ``left`` and ``right``
    (x, y) to their places in an ``output`` (height, width) face: level, :data:`EYE_DISTANCE` x width apart,
    their midpoint centred at :data:`EYE_Y` x height."""
    h, w = output
    left, right = np.asarray(left, np.float64), np.asarray(right, np.float64)
    d = right - left
    dist = float(np.hypot(*d))
    if dist < 1e-6:
        raise AlignError("the two eyes are at the same place")
    scale = EYE_DISTANCE * w / dist
    angle = np.arctan2(d[1], d[0])
    c, s = scale * np.cos(-angle), scale * np.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    mid = (left + right) / 2
    target = np.array([w / 2, EYE_Y * h])
    return np.hstack([rot, (target - rot @ mid)[:, None]])


def align(gray: np.ndarray, transform: np.ndarray, output: tuple[int, int] = OUTPUT) -> np.ndarray:
    """``gray`` warped by ``transform`` into an ``output`` face. Where the transform shrinks by more than
    half, the frame is halved first (a Gaussian pyramid), so that the warp does not alias."""
    import cv2

    transform = np.array(transform, np.float64)
    while np.sqrt(abs(np.linalg.det(transform[:, :2]))) < 0.5 and min(gray.shape) >= 2 * min(output):
        gray = cv2.pyrDown(gray)
        transform[:, :2] *= 2  # the same points, in the halved frame's coordinates
    return cv2.warpAffine(gray, transform, (output[1], output[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)

