"""Synthetic long videos with known expressions, written as CAS(ME)^2 or SAMM long videos.

Each video is one subject's drawn face (:func:`microexpr.datasets.synthetic_face.make_face`) for ``seconds`` at
the format's frame rate, with

* head motion: a slow drift (``drift`` px, std) plus the small jitter of the clip generator;
* blinks (the upper lids close and open in 0.15-0.3 s), about ``blinks_per_minute``; not coded in the sheet,
  as in the real datasets: a spotter must not report them;
* macro-expressions (``macro_per_video``, 0.8-2 s long, ``macro_amplitude`` px) and micro-expressions
  (``micro_per_video``, 0.2-0.5 s from onset to offset, ``micro_amplitude`` px, the class motions of the
  CASME II stand-in so a model trained on it can classify them), at random, separate times;
* sensor noise and JPEG compression.

With ``uncropped`` the face sits at a random place on a textured scene twice its size, as a camera
records it (for face detection); ``ground_truth/events.tsv`` then still holds the events, and
``ground_truth/faces.tsv`` the face box and the eye centres of each video (before head motion).

The sheet codes every macro- and micro-expression (onset, apex, offset, action units, type). With
``quirks``, one micro-expression's onset is coded ``0`` (as real rows are) and one row is planted whose
interval runs past the video's last frame. Ground truth beside the frames (loaders ignore it):
``ground_truth/events.tsv``, one row per event (blinks too) with its true frames and, for
micro-expressions, the class whose motion was drawn.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..io import atomic_path
from ..synthetic_settings import LongSynthConfig  # noqa: F401  (re-exported: the generator's settings)
from .formats import au_text, new_sheet, save_sheet
from .longvideo import SAMM_LV_HEADER, SAMM_LV_NOTE_ROWS, SAMM_LV_SHEET, get_long_format
from .synthetic import OTHER_POOL, envelope, motion_field, smooth_jitter
from .synthetic_face import embed_face, make_face

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
# The classes micro-expressions are drawn from: the CASME II stand-in's five (their action units).
MICRO_CLASSES = {"happiness": ("AU6", "AU12"), "surprise": ("AU1", "AU2"), "disgust": ("AU4", "AU9"),
                 "repression": ("AU15", "AU17"), "others": None}
MACRO_CLASSES = {"happiness": ("AU6", "AU12"), "surprise": ("AU1", "AU2", "AU25"), "disgust": ("AU4", "AU9", "AU10")}
# CAS(ME)^2 codes an estimated emotion of four kinds
CASME_SQ_EMOTION = {"happiness": "positive", "surprise": "surprise", "disgust": "negative",
                    "repression": "negative", "others": "others"}
# 'others': one or two of the clip generator's pool, but not those of the eyelids (AU7, AU43): a spotter that
# leaves the eyes out, as blinks are no expressions, cannot see them (docs/predict.md says so)
OTHERS = tuple(au for au in OTHER_POOL if au not in ("AU7", "AU43"))
# seconds at each end of a video without events: the spotter does not search a video's first and last
# second (microexpr.longspot: its contrast needs frames either side)
EDGE_S = 1.0
EVENT_COLUMNS = ("subject", "video", "event", "type", "label", "aus", "onset", "apex", "offset", "coded")


# The synthetic sets the spotting figures of docs/spotting.md are measured on (benchmarks/longspot.py) and
# the test's spotting check runs on: 32 micro- and 16 macro-expressions at 30 fps, 12 and 3 at 200 fps.
REFERENCE_SETS = {
    "casme_sq": dict(format="casme_sq", subjects=4, videos_per_subject=2, seconds=30.0, micro_per_video=4,
                     macro_per_video=2, seed=1),
    "samm_lv": dict(format="samm_lv", subjects=3, videos_per_subject=1, seconds=16.0, micro_per_video=4,
                    macro_per_video=1, seed=1),
}


def _durations(rng: np.random.Generator, kind: str) -> tuple[float, float]:
    """(rise, fall) in seconds of one event."""
    if kind == "micro":
        total = rng.uniform(0.2, 0.5)
    elif kind == "macro":
        total = rng.uniform(0.8, 2.0)
    else:  # blink
        total = rng.uniform(0.15, 0.3)
    rise = total * rng.uniform(0.35, 0.5)
    return rise, total - rise


def plan_video(cfg: LongSynthConfig, rng: np.random.Generator, n_frames: int, fps: float) -> list[dict]:
    """Events of one video (frame indices from 0), separated by at least 1 s; blinks by 0.6 s."""
    kinds = ["micro"] * cfg.micro_per_video + ["macro"] * cfg.macro_per_video
    kinds += ["blink"] * int(rng.poisson(cfg.blinks_per_minute * cfg.seconds / 60.0))
    rng.shuffle(kinds)
    spans = [_durations(rng, k) for k in kinds]
    gaps = [0.6 if k == "blink" else 1.0 for k in kinds]

    def need() -> float:
        return sum(r + f for r, f in spans) + sum(gaps) + 2 * EDGE_S

    while need() > cfg.seconds and "blink" in kinds:  # a short video holds fewer blinks
        i = kinds.index("blink")
        del kinds[i], spans[i], gaps[i]
    slack = cfg.seconds - need()
    if slack < 0:
        raise DatasetError(f"synthetic long videos: {cfg.seconds:g} s cannot hold {cfg.micro_per_video} micro-, "
                           f"{cfg.macro_per_video} macro-expressions (needs about {need():.1f} s): "
                           f"raise seconds")
    shares = rng.dirichlet(np.ones(len(kinds) + 1)) * slack if kinds else np.array([slack])
    events, t = [], EDGE_S + shares[0]
    for kind, (rise, fall), gap, extra in zip(kinds, spans, gaps, shares[1:]):
        onset = int(round(t * fps))
        apex = onset + max(1, int(round(rise * fps)))
        offset = apex + max(1, int(round(fall * fps)))
        if kind == "micro":  # at most 0.5 s from onset to offset, both frames counted
            offset = min(offset, onset + int(0.5 * fps) - 1)
        if offset >= n_frames - 1:
            break
        if kind == "micro":
            label = str(rng.choice(sorted(MICRO_CLASSES)))
            aus = MICRO_CLASSES[label] or tuple(sorted(rng.choice(OTHERS, size=int(rng.integers(1, 3)), replace=False)))
        elif kind == "macro":
            label = str(rng.choice(sorted(MACRO_CLASSES)))
            aus = MACRO_CLASSES[label]
        else:
            label, aus = "", ("AU43",)
        events.append({"type": kind, "label": label, "aus": tuple(aus), "onset": onset, "apex": apex, "offset": offset})
        t = offset / fps + gap + extra
    return events


def blink_field(face, amplitude: float, height: int, width: int) -> np.ndarray:
    """The upper lids' downward displacement at a closed blink (H x W x 2, px): bumps on the lids that fall
    off within a pixel above them (the skin up to the brows stays; the clip generator's AU43 bump is wide
    enough to move the brows, which a blink does not) and over a few pixels below."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    field = np.zeros((height, width, 2), np.float32)
    for side in ("l", "r"):
        x0, y0 = face.landmarks[f"lid_upper_{side}"]
        sy = np.where(yy < y0, 0.02 * face.a, 0.06 * face.a)
        field[..., 1] += amplitude * np.exp(-((xx - x0) ** 2 / (2 * (0.09 * face.a) ** 2) + (yy - y0) ** 2 / (2 * sy**2)))
    return field


def head_motion(rng: np.random.Generator, n: int, fps: float, drift: float, jitter: float) -> np.ndarray:
    """n x 2 px: a slow drift (smoothed over about 1 s) plus the fast jitter."""
    motion = smooth_jitter(rng, n, jitter, fps)
    if drift and n > 1:
        sigma = max(1.0, fps)  # ~1 s
        pad = int(3 * sigma) + 1
        walk = rng.standard_normal((n + 2 * pad, 2))
        k = np.exp(-0.5 * (np.arange(-pad, pad + 1) / sigma) ** 2)
        slow = np.stack([np.convolve(walk[:, i], k / k.sum(), mode="valid") for i in range(2)], axis=1)
        slow -= slow.mean(axis=0)
        motion = motion + (slow / (slow.std() + 1e-9) * drift).astype(np.float32)
    return motion


def render_video(face, fields: list[np.ndarray], envs: list[np.ndarray], head: np.ndarray, noise: float,
                 rng: np.random.Generator):
    """Yield frames (H x W x C uint8): the face warped by the events' fields and the head motion."""
    import cv2

    h, w = face.image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for t in range(len(head)):
        dx = np.full((h, w), -head[t, 0], np.float32)
        dy = np.full((h, w), -head[t, 1], np.float32)
        for field, env in zip(fields, envs):
            if env[t] > 0:
                dx -= np.float32(env[t]) * field[..., 0]
                dy -= np.float32(env[t]) * field[..., 1]
        warped = cv2.remap(face.image, xx + dx, yy + dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
        warped = warped.reshape(h, w, -1)
        if noise > 0:
            warped = warped + rng.normal(0, noise, warped.shape).astype(np.float32)
        yield np.clip(np.rint(warped), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- the formats' names and sheets

def _ids(fmt: str, si: int, vi: int) -> tuple[str, str, str]:
    """(subject, video, folder below the frames dir) of subject index si, video index vi."""
    if fmt == "casme_sq":
        number = 15 + si
        code = f"{(vi % 5) + 1:02d}{vi // 5 + 1:02d}"
        return f"s{number}", code, f"s{number}/{number}_{code}synthetic{vi + 1}"
    subject = f"{si + 6:03d}"
    return subject, f"{subject}_{vi + 1}", f"{subject}_{vi + 1}"


def _frame_name(fmt: str, video: str, n: int) -> str:
    return f"img{n}.jpg" if fmt == "casme_sq" else f"{video}_{n:04d}.jpg"


def _write_casme_sq_sheet(root: Path, rows: list[dict], cfg: LongSynthConfig) -> Path:
    wb, ws = new_sheet("CASFEcode", [])
    participants = {}
    for r in rows:
        participants.setdefault(r["subject"], len(participants) + 1)
    names = {}
    for r in rows:
        names.setdefault(r["video"], f"synthetic{int(r['video'][:2]) + 5 * (int(r['video'][2:]) - 1)}")
    counter: dict[str, int] = {}
    for r in rows:
        name = names[r["video"]]
        counter[name] = counter.get(name, 0) + 1
        ws.append([participants[r["subject"]], f"{name}_{counter[name]}", r["onset_coded"], r["apex"],
                   r["offset_coded"], au_text(r["aus"]), CASME_SQ_EMOTION.get(r["label"], "others"),
                   f"{r['type']}-expression", CASME_SQ_EMOTION.get(r["label"], "others")])
    people = wb.create_sheet("naming rule1")
    for subject, number in participants.items():
        people.append([subject[1:], subject, number])
    videos = wb.create_sheet("naming rule2")
    for code, name in names.items():
        videos.append([code, name])
    return save_sheet(wb, root / "CAS(ME)^2code_final.xlsx")


def _write_samm_lv_sheet(root: Path, rows: list[dict], cfg: LongSynthConfig) -> Path:
    wb, ws = new_sheet(SAMM_LV_SHEET, [])
    notes = ["SAMM Long Videos (synthetic stand-in written by microexpr)", "Frames at 200 fps",
             "Onset, Apex and Offset are frame numbers", "Type: Micro - 1/2 or Macro"]
    for i in range(SAMM_LV_NOTE_ROWS):
        ws.append([notes[i] if i < len(notes) else None])
    ws.append(list(SAMM_LV_HEADER))
    counter: dict[str, int] = {}
    for r in rows:
        counter[r["video"]] = counter.get(r["video"], 0) + 1
        ws.append([int(r["subject"]), f"{r['video']}_{counter[r['video']]}", "synthetic", r["onset_coded"], r["apex"],
                   r["offset_coded"], r["offset"] - r["onset"] + 1, "Micro - 1/2" if r["type"] == "micro" else "Macro",
                   au_text(r["aus"]), ""])
    return save_sheet(wb, root / "SAMM_LongVideos_V1_Release.xlsx")


SHEET_WRITERS = {"casme_sq": _write_casme_sq_sheet, "samm_lv": _write_samm_lv_sheet}


def _plant_quirks(coded: list[dict], n_frames: int) -> None:
    """The real sheets' odd rows, planted in the coded rows: a micro-expression coded without an onset, and
    an interval that runs past the last frame (a loader repairs the first and drops the second)."""
    micro = [r for r in coded if r["type"] == "micro"]
    if micro:
        micro[0]["onset_coded"] = 0
    coded.append({**coded[-1], "type": "micro", "aus": ("AU12",), "label": "planted", "onset": n_frames - 5,
                  "apex": n_frames - 2, "offset": n_frames + 20, "onset_coded": n_frames - 5,
                  "offset_coded": n_frames + 20})


def generate_long(cfg: LongSynthConfig, out: str | Path, *, overwrite: bool = False, progress: bool = True) -> Path:
    """Write the dataset to ``out`` (atomically: a failed run leaves nothing behind). Returns ``out``."""
    import cv2
    from tqdm import tqdm

    cfg.validate()
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(f"output folder already exists: {out} (pass overwrite=True / --overwrite)")
    fmt = get_long_format(cfg.format)
    n_frames = int(round(cfg.seconds * fmt.fps))
    if n_frames < 2:
        raise DatasetError(f"synthetic long videos: {cfg.seconds:g} s at {fmt.fps:g} fps is under two frames")
    events_all, coded, boxes = [], [], []
    with atomic_path(out) as root:
        root.mkdir()
        bar = tqdm(total=cfg.subjects * cfg.videos_per_subject * n_frames, desc=f"synthetic {cfg.format}",
                   unit="frame", disable=not progress)
        for si in range(cfg.subjects):
            srng = np.random.default_rng(np.random.SeedSequence([cfg.seed, GENERATOR_VERSION, si, 10**6]))
            face = make_face(srng, cfg.height, cfg.width, fmt.channels)
            if cfg.uncropped:
                face = embed_face(face, srng)
            height, width = face.image.shape[:2]
            for vi in range(cfg.videos_per_subject):
                subject, video, folder = _ids(cfg.format, si, vi)
                (lx, ly), (rx, ry) = face.landmarks["eye_l"], face.landmarks["eye_r"]
                boxes.append({"subject": subject, "video": video, "x0": round(face.cx - face.a), "y0": round(face.cy - face.b),
                              "x1": round(face.cx + face.a), "y1": round(face.cy + face.b), "eye_lx": round(lx, 1),
                              "eye_ly": round(ly, 1), "eye_rx": round(rx, 1), "eye_ry": round(ry, 1)})
                rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, GENERATOR_VERSION, si, vi]))
                events = plan_video(cfg, rng, n_frames, fmt.fps)
                t = np.arange(n_frames)
                fields, envs = [], []
                for e in events:
                    amplitude = {"micro": cfg.micro_amplitude, "macro": cfg.macro_amplitude,
                                 "blink": cfg.blink_amplitude}[e["type"]]
                    gains = tuple(float(g) for g in rng.uniform(0.6, 1.0, len(e["aus"])))
                    if e["type"] == "blink":
                        fields.append(blink_field(face, amplitude, height, width))
                    else:
                        fields.append(motion_field(face, e["aus"], gains, amplitude, height, width, rng))
                    envs.append(envelope(t, e["onset"], e["apex"], e["offset"]))
                head = head_motion(rng, n_frames, fmt.fps, cfg.drift, cfg.jitter)
                vdir = root / fmt.frames_dir / folder
                vdir.mkdir(parents=True)
                params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
                for i, frame in enumerate(render_video(face, fields, envs, head, cfg.noise, rng)):
                    path = vdir / _frame_name(cfg.format, video, i + 1)  # frame numbers from 1
                    if not cv2.imwrite(str(path), frame if fmt.channels == 3 else frame[..., 0], params):
                        raise DatasetError(f"could not write frame {path}")
                    bar.update(1)
                for k, e in enumerate(events):
                    row = {"subject": subject, "video": video, "event": k, "type": e["type"], "label": e["label"],
                           "aus": e["aus"], "onset": e["onset"] + 1, "apex": e["apex"] + 1, "offset": e["offset"] + 1,
                           "coded": e["type"] != "blink"}
                    events_all.append(row)
                    if row["coded"]:
                        coded.append({**row, "onset_coded": row["onset"], "offset_coded": row["offset"]})
        bar.close()
        if cfg.quirks and coded:
            _plant_quirks(coded, n_frames)
        sheet = SHEET_WRITERS[cfg.format](root, coded, cfg)
        gt = root / "ground_truth"
        gt.mkdir()
        pd.DataFrame(boxes).to_csv(gt / "faces.tsv", sep="\t", index=False)  # the face ellipse's box, the eyes
        table = pd.DataFrame(events_all, columns=list(EVENT_COLUMNS))
        table["aus"] = table["aus"].map(au_text)
        table.to_csv(gt / "events.tsv", sep="\t", index=False)
        meta = {"generator": "microexpr.datasets.synthetic_long", "generator_version": GENERATOR_VERSION,
                "fps": fmt.fps, "frames_per_video": n_frames, "config": asdict(cfg), "sheet": sheet.name,
                "events": int(len(table)), "coded": int(table["coded"].sum())}
        (root / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("wrote %d synthetic %s videos (%d coded expressions) to %s", cfg.subjects * cfg.videos_per_subject,
             cfg.format, int(table["coded"].sum()), out)
    return out


def read_events(root: str | Path) -> pd.DataFrame:
    """The ground-truth events of a synthetic long-video dataset (subject ids stay text)."""
    path = Path(root) / "ground_truth" / "events.tsv"
    if not path.is_file():
        raise DatasetError(f"not a synthetic long-video dataset (no {path})")
    return pd.read_csv(path, sep="\t", dtype={"subject": str, "video": str, "label": str, "aus": str},
                       keep_default_na=False)
