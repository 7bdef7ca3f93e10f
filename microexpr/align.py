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
# frames whose eyes are at least this share of the width apart are a face crop already (an aligned face has
# them EYE_DISTANCE = 0.29 apart; a face in a 640 x 480 scene about 0.1)
CROP_EYES = 0.2
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


@lru_cache(maxsize=1)
def _models():
    if not available():
        raise AlignError("face alignment needs dlib and its landmark model: pip install -e '.[faces]' "
                         "(dlib-bin and face-recognition-models)")
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(_model_path()))


def _best_face(gray: np.ndarray):
    detector, _ = _models()
    for upsample in (1, 2):  # a small face: once more at twice the size
        faces, scores, _ = detector.run(gray, upsample, DETECT_THRESHOLD)
        if len(faces):
            return faces[int(np.argmax(scores))]
    return None


def face_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The best-scoring face as (x, y, w, h) inside the image, or None."""
    face = _best_face(np.ascontiguousarray(gray))
    if face is None:
        return None
    h, w = gray.shape[:2]
    x0, y0 = max(0, face.left()), max(0, face.top())
    x1, y1 = min(w, face.right()), min(h, face.bottom())
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0)) if x1 > x0 and y1 > y0 else None


def eye_centres(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(image-left eye, image-right eye) centres (x, y) of the best-scoring face, or None where none is found."""
    import dlib

    _, predictor = _models()
    gray = np.ascontiguousarray(gray)
    face = _best_face(gray)
    if face is None:
        return None
    shape = predictor(np.ascontiguousarray(gray), dlib.rectangle(face.left(), face.top(), face.right(), face.bottom()))
    pts = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
    return pts[LEFT_EYE].mean(axis=0), pts[RIGHT_EYE].mean(axis=0)


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


def scene_face(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]] | None:
    """(left eye, right eye, face box (x, y, w, h)) where ``gray`` shows a face smaller than a face crop
    (eyes under :data:`CROP_EYES` of the width apart), else None (no face, or the frame is a crop)."""
    eyes = eye_centres(gray)
    if eyes is None:
        return None
    if np.hypot(*(eyes[1] - eyes[0])) >= CROP_EYES * gray.shape[1]:
        return None
    box = face_box(gray)
    return (eyes[0], eyes[1], box) if box is not None else None
