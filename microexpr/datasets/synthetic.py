"""A synthetic micro-expression dataset with known ground-truth motion, in the real on-disk formats.

Each subject is a procedurally drawn face (shape, proportions, skin level, colour, texture and
background differ). Each clip is that face, still except for

* an AU-like local motion: the clip's class decides which facial regions move and in which
  direction (brows, eyelids, nose wings, lip corners, lips, chin); each region moves by a Gaussian
  bump of displacement whose peak is ``amplitude`` pixels at the apex (sub-pixel by default), with a
  smooth rise from onset to apex and fall to offset;
* a small smooth global head jitter (a distractor that is not class information);
* sensor noise and JPEG compression.

Frames are written at 200 fps in the layout of CASME II (``Cropped/sub01/EP01_01/reg_img<N>.jpg`` and
``CASME2-coding-20190701.xlsx``) or SAMM (``006/006_1_2/006_<N:05d>.jpg`` and
``SAMM_Micro_FACS_Codes_v2.xlsx``, 13 note rows, header on row 14). Like the real sheets, a few rows
are planted that loaders must handle: classes outside the paper's five (fear, sadness), CASME II's
apex ``/`` and SAMM's apex outside onset..offset.

Ground truth, beside the frames (loaders ignore it):

* ``ground_truth/clips.tsv``: one row per clip with its label, AUs, true onset/apex/offset, what the
  sheet says and why a row was planted;
* ``ground_truth/<subject>/<clip>.npz``: ``face_flow`` (H x W x 2, float32, pixels; ``[..., 0]`` along
  x): the forward displacement of facial content from onset to apex, such that
  ``apex(x + u, y + v) ~= onset(x, y)``; ``jitter`` (n_frames x 2): the global translation of each
  frame; ``envelope`` (n_frames): the motion's time course (0 at onset, 1 at apex);
  ``frame_numbers``. The total onset->apex motion is ``face_flow + jitter[apex] - jitter[onset]``.

Everything is a deterministic function of the configuration: each subject and clip draws from its
own ``numpy.random.SeedSequence`` child (a subject's face depends only on the seed and its index).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..io import atomic_path
from ..synthetic_settings import SynthConfig  # noqa: F401  (re-exported: the generator's settings)
from .formats import SyntheticLayout, get_format
from .synthetic_face import Face, embed_face, make_face

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
FPS = 200.0
# AU-like motions: (landmark, direction in image axes); the direction is normalised when drawn.
ACTION_UNITS: dict[str, list[tuple[str, tuple[float, float]]]] = {
    "AU1": [("brow_inner_l", (0, -1)), ("brow_inner_r", (0, -1))],              # inner brow raiser
    "AU2": [("brow_outer_l", (0, -1)), ("brow_outer_r", (0, -1))],              # outer brow raiser
    "AU4": [("brow_inner_l", (0.6, 0.8)), ("brow_inner_r", (-0.6, 0.8))],       # brow lowerer
    "AU6": [("cheek_l", (0, -1)), ("cheek_r", (0, -1))],                        # cheek raiser
    "AU7": [("lid_lower_l", (0, -1)), ("lid_lower_r", (0, -1))],                # lid tightener
    "AU9": [("nose_wing_l", (0.3, -1)), ("nose_wing_r", (-0.3, -1))],           # nose wrinkler
    "AU10": [("lip_upper", (0, -1))],                                           # upper lip raiser
    "AU12": [("mouth_corner_l", (-0.7, -0.7)), ("mouth_corner_r", (0.7, -0.7))],  # lip corner puller
    "AU14": [("mouth_corner_l", (0.8, -0.2)), ("mouth_corner_r", (-0.8, -0.2))],  # dimpler
    "R14": [("mouth_corner_r", (-0.6, -0.8))],                                  # one-sided dimpler
    "AU15": [("mouth_corner_l", (0, 1)), ("mouth_corner_r", (0, 1))],           # lip corner depressor
    "AU17": [("chin", (0, -1)), ("lip_lower", (0, -0.6))],                      # chin raiser
    "AU20": [("mouth_corner_l", (-1, 0.2)), ("mouth_corner_r", (1, 0.2))],      # lip stretcher
    "AU24": [("lip_upper", (0, 0.8)), ("lip_lower", (0, -0.8))],                # lip pressor
    "AU25": [("lip_lower", (0, 1))],                                            # lips part
    "AU43": [("lid_upper_l", (0, 1)), ("lid_upper_r", (0, 1))],                 # eyes closing
}
OTHER_POOL = ("AU7", "AU10", "AU24", "AU25", "AU43")  # 'others': one or two of these

@dataclass
class ClipPlan:
    subject: str
    clip: str
    label: str
    aus: tuple[str, ...]
    gains: tuple[float, ...]
    first: int
    onset: int
    apex: int
    offset: int
    last: int
    sheet_apex: object
    planted: str = ""


def motion_field(face: Face, aus: tuple[str, ...], gains: tuple[float, ...], amplitude: float,
                 height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """The apex displacement field (H x W x 2, pixels) of a set of AUs on ``face``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.zeros((height, width, 2), np.float32)
    for au, gain in zip(aus, gains):
        for landmark, (dx, dy) in ACTION_UNITS[au]:
            x0, y0 = face.landmarks[landmark]
            sigma = face.a * rng.uniform(0.11, 0.15)
            bump = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
            norm = np.hypot(dx, dy)
            flow[..., 0] += amplitude * gain * dx / norm * bump
            flow[..., 1] += amplitude * gain * dy / norm * bump
    return flow


def envelope(frames: np.ndarray, onset: int, apex: int, offset: int) -> np.ndarray:
    """Raised-cosine time course: 0 up to onset, 1 at apex, 0 from offset on."""
    f = frames.astype(np.float64)
    out = np.zeros_like(f)
    rise = (f > onset) & (f <= apex)
    out[rise] = 0.5 - 0.5 * np.cos(np.pi * (f[rise] - onset) / max(apex - onset, 1))
    fall = (f > apex) & (f < offset)
    out[fall] = 0.5 + 0.5 * np.cos(np.pi * (f[fall] - apex) / max(offset - apex, 1))
    return out


def smooth_jitter(rng: np.random.Generator, n: int, std: float, fps: float = FPS) -> np.ndarray:
    """Low-frequency (mostly < 10 Hz) global translation, n x 2, with the given standard deviation."""
    if std == 0 or n == 0:
        return np.zeros((n, 2), np.float32)
    sigma = 0.02 * fps  # 20 ms smoothing
    pad = int(4 * sigma) + 1
    white = rng.standard_normal((n + 2 * pad, 2))
    k = np.exp(-0.5 * (np.arange(-pad, pad + 1) / sigma) ** 2)
    smooth = np.stack([np.convolve(white[:, i], k / k.sum(), mode="valid") for i in range(2)], axis=1)
    smooth -= smooth.mean(axis=0)
    return (smooth / (smooth.std() + 1e-9) * std).astype(np.float32)


def render_clip(face: Face, flow: np.ndarray, env: np.ndarray, jitter: np.ndarray, noise: float,
                rng: np.random.Generator) -> np.ndarray:
    """Frames (T x H x W x C uint8): the face warped by ``env[t] * flow + jitter[t]``, plus noise."""
    import cv2

    h, w = flow.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = np.empty((len(env), h, w, face.image.shape[2]), np.uint8)
    for t, (e, (jx, jy)) in enumerate(zip(env, jitter)):
        # Backward map: content at p in the base image appears at p + e*flow(p) + j (flow is smooth).
        e = np.float32(e)
        map_x = (xx - e * flow[..., 0] - jx).astype(np.float32)
        map_y = (yy - e * flow[..., 1] - jy).astype(np.float32)
        warped = cv2.remap(face.image, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
        warped = warped.reshape(h, w, -1)
        if noise > 0:
            warped = warped + rng.normal(0, noise, warped.shape).astype(np.float32)
        frames[t] = np.clip(np.rint(warped), 0, 255).astype(np.uint8)
    return frames


# ----------------------------------------------------------------------------- planning

def _label_sequence(rng: np.random.Generator, fmt: str, n: int) -> list[str]:
    """n labels with the real datasets' class shares (largest remainder), every class at least once
    when n allows, in a random order."""
    shares = layout_of(fmt).shares
    labels = list(shares)
    total = sum(shares.values())
    exact = np.array([shares[c] / total * n for c in labels])
    counts = np.floor(exact).astype(int)
    if n >= len(labels):
        counts = np.maximum(counts, 1)
    while counts.sum() < n:
        counts[np.argmax(exact - counts)] += 1
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    seq = [c for c, k in zip(labels, counts) for _ in range(k)]
    rng.shuffle(seq)
    return seq


def layout_of(fmt: str) -> SyntheticLayout:
    """The synthetic layout the format's own module declares."""
    return get_format(fmt).synthetic


def plan_dataset(cfg: SynthConfig) -> list[ClipPlan]:
    """Decide every clip (label, AUs, timing) without drawing anything."""
    cfg.validate()
    root_ss = np.random.SeedSequence([cfg.seed, GENERATOR_VERSION])
    rng = np.random.default_rng(root_ss.spawn(1)[0])
    layout = layout_of(cfg.format)
    subjects = layout.subject_ids(cfg.subjects)
    labels = _label_sequence(rng, cfg.format, cfg.subjects * cfg.clips_per_subject)
    extra: dict[int, list[tuple[str, str]]] = layout.planted(cfg.subjects) if cfg.quirks and layout.planted else {}
    plans: list[ClipPlan] = []
    start = layout.first_frame
    k = get_format(cfg.format).fps / FPS  # timings are drawn at 200 fps and scaled to the format's rate

    def frames(n: int) -> int:
        return max(1, int(round(n * k)))

    for si, subject in enumerate(subjects):
        todo = [(labels[si * cfg.clips_per_subject + k], "") for k in range(cfg.clips_per_subject)]
        todo += extra.get(si, [])
        for ci, (label, planted) in enumerate(todo):
            crng = np.random.default_rng(np.random.SeedSequence([cfg.seed, GENERATOR_VERSION, si, ci]))
            aus_def, _ = layout.classes[label]
            if aus_def is None:
                aus = tuple(sorted(crng.choice(OTHER_POOL, size=int(crng.integers(1, 3)), replace=False)))
            else:
                keep = crng.random(len(aus_def)) < 0.85
                if not keep.any():
                    keep[crng.integers(len(aus_def))] = True
                aus = tuple(a for a, k in zip(aus_def, keep) if k)
            gains = tuple(float(g) for g in crng.uniform(0.6, 1.0, len(aus)))
            first = int(crng.integers(start, start + 3000))
            onset = first + frames(int(crng.integers(4, 9)))
            apex = onset + frames(int(crng.integers(8, 21)))
            offset = apex + frames(int(crng.integers(12, 31)))
            last = offset + frames(int(crng.integers(4, 9)))
            if layout.onset_to_offset:
                first, last = onset, offset
            sheet_apex: object = apex
            if planted == "apex after offset in sheet":
                sheet_apex = offset + 7
            plans.append(ClipPlan(subject, layout.clip_name(subject, ci, label), label, aus, gains,
                                  first, onset, apex, offset, last, sheet_apex, planted))
    if cfg.quirks and layout.finish:
        layout.finish(plans)
    return plans


# ----------------------------------------------------------------------------- writing

def generate(cfg: SynthConfig, out: str | Path, *, overwrite: bool = False, progress: bool = True) -> Path:
    """Write the dataset to ``out`` (atomically: a failed run leaves nothing behind). Returns ``out``."""
    import cv2
    from tqdm import tqdm

    cfg.validate()
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(f"output folder already exists: {out} (pass overwrite=True / --overwrite)")
    plans = plan_dataset(cfg)
    layout = layout_of(cfg.format)
    channels = layout.channels
    fps = get_format(cfg.format).fps
    faces: dict[str, Face] = {}
    rows = []
    with atomic_path(out) as root:
        root.mkdir()
        subject_index = {subject: si for si, subject in enumerate(layout.subject_ids(cfg.subjects))}
        for subject, si in subject_index.items():
            srng = np.random.default_rng(np.random.SeedSequence([cfg.seed, GENERATOR_VERSION, si, 10**6]))
            faces[subject] = make_face(srng, cfg.height, cfg.width, channels)
            if cfg.uncropped:
                faces[subject] = embed_face(faces[subject], srng)
        for ci, p in enumerate(tqdm(plans, desc=f"synthetic {cfg.format}", unit="clip", disable=not progress)):
            si = subject_index[p.subject]
            rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, GENERATOR_VERSION, si, ci, 7]))
            face = faces[p.subject]
            flow = motion_field(face, p.aus, p.gains, cfg.amplitude, face.image.shape[0], face.image.shape[1], rng)
            flow = _subject_style(cfg, si, p.label, face, flow)
            numbers = np.arange(p.first, p.last + 1)
            env = envelope(numbers, p.onset, p.apex, p.offset)
            jit = smooth_jitter(rng, len(numbers), cfg.jitter, fps)
            frames = render_clip(face, flow, env, jit, cfg.noise, rng)
            for n, frame in zip(numbers, frames):
                path = layout.frame_path(root, p, int(n), cfg)
                path.parent.mkdir(parents=True, exist_ok=True)
                img = frame if channels == 3 else frame[..., 0]
                params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality] if path.suffix == ".jpg" else []
                if not cv2.imwrite(str(path), img, params):
                    raise DatasetError(f"could not write frame {path}")
            gt = root / "ground_truth" / p.subject / f"{p.clip}.npz"
            gt.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(gt, face_flow=flow, jitter=jit, envelope=env.astype(np.float32),
                                frame_numbers=numbers.astype(np.int64))
            rows.append({
                "subject": p.subject, "clip": p.clip, "label": p.label, "aus": "+".join(p.aus),
                "peak_px": float(np.hypot(flow[..., 0], flow[..., 1]).max()),
                "first_frame": p.first, "onset": p.onset, "apex": p.apex, "offset": p.offset,
                "last_frame": p.last, "sheet_apex": str(p.sheet_apex), "planted": p.planted,
                "ground_truth": gt.relative_to(root).as_posix(),
                # the face ellipse's bounding box in frame coordinates (x0, y0, x1, y1)
                "face_x0": round(face.cx - face.a), "face_y0": round(face.cy - face.b),
                "face_x1": round(face.cx + face.a), "face_y1": round(face.cy + face.b),
            })
        pd.DataFrame(rows).to_csv(root / "ground_truth" / "clips.tsv", sep="\t", index=False)
        sheet = layout.write_sheet(root, plans, cfg)
        meta = {"generator": "microexpr.datasets.synthetic", "generator_version": GENERATOR_VERSION,
                "fps": fps, "config": asdict(cfg), "sheet": sheet.name if sheet else None, "clips": len(plans)}
        (root / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("wrote %d synthetic %s clips of %d subjects to %s", len(plans), cfg.format, cfg.subjects, out)
    return out


def _subject_style(cfg: SynthConfig, si: int, label: str, face: Face, flow: np.ndarray) -> np.ndarray:
    """The hard preset's subject effects (none at the defaults, which leave every draw as it was): the
    class motion turned by an angle of the subject's own for that class, plus a motion of the subject's
    own in every clip. Both differ between subjects, so a model that learns them fits the training
    subjects' clips but not an unseen subject."""
    if cfg.class_variation:
        labels = sorted(layout_of(cfg.format).classes)
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, GENERATOR_VERSION, si, labels.index(label), 99]))
        t = np.deg2rad(rng.normal(0.0, cfg.class_variation))
        u, v = flow[..., 0].copy(), flow[..., 1].copy()
        flow = np.stack([np.cos(t) * u - np.sin(t) * v, np.sin(t) * u + np.cos(t) * v], axis=-1).astype(np.float32)
    if cfg.subject_motion:
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, GENERATOR_VERSION, si, 98]))
        aus = tuple(rng.choice(sorted(ACTION_UNITS), size=2, replace=False))
        gains = tuple(float(g) for g in rng.uniform(0.6, 1.0, 2))
        flow = flow + motion_field(face, aus, gains, cfg.subject_motion, flow.shape[0], flow.shape[1], rng)
    return flow


def read_ground_truth(root: str | Path) -> pd.DataFrame:
    """The ``ground_truth/clips.tsv`` index of a synthetic dataset (subject ids stay text)."""
    path = Path(root) / "ground_truth" / "clips.tsv"
    if not path.is_file():
        raise DatasetError(f"not a synthetic dataset (no {path})")
    return pd.read_csv(path, sep="\t", dtype={"subject": str, "clip": str, "sheet_apex": str, "planted": str},
                       keep_default_na=False)


def load_clip_ground_truth(root: str | Path, subject: str, clip: str) -> dict[str, np.ndarray]:
    """The arrays of one clip's ground-truth sidecar."""
    path = Path(root) / "ground_truth" / subject / f"{clip}.npz"
    if not path.is_file():
        raise DatasetError(f"no ground truth for {subject}/{clip}: {path}")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
