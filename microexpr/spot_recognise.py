"""Spot, then recognise: the intervals of a long video (:mod:`microexpr.longspot`), each micro-expression
classified by a trained bundle (a coded dataset's scores: :mod:`microexpr.spot_eval`).

A long video is a folder of numbered frames or a video file; it is read twice, once as small aligned
images for the spotting signal (full frames are never all held: memory grows by the working image, about
7-12 KB a frame, so a 10-minute 200 fps video needs about 0.8-1.5 GB) and once for the frames of each
spotted micro-expression, which go through the bundle's own pre-processing
(:func:`microexpr.predict.clip_inputs` with the spotted onset, apex and offset) to the model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .io import atomic_path, open_video, read_frame
from .longspot import LongSpotSettings, SpotSignal, intervals, spot_signal

log = logging.getLogger(__name__)

# An input longer than this is a long video to spot in (auto mode of predict); a clip cut around one
# expression lasts well under it (CASME II's and SAMM's longest clips are about 1 to 2 s).
LONG_VIDEO_S = 4.0
INTERVAL_COLUMNS = ("input", "type", "onset", "apex", "offset", "onset_s", "apex_s", "offset_s", "score",
                    "predicted")


class FrameSource:
    """The frames of a folder (numbered files, in number order) or a video file, read as gray on demand."""

    def __init__(self, path: str | Path, fps: float | None = None):
        import cv2

        from .errors import PredictError
        from .io import frame_files

        self.path = Path(path)
        self.crop = None  # (x0, y0, x1, y1): every frame is cut to it (see find_face)
        self.transform = None  # or a 2 x 3 eye alignment: every frame is warped into an aligned face
        self.face = "whole frames (face detection off)"  # what find_face did, for the output
        if fps is not None and not (np.isfinite(fps) and fps > 0):
            raise PredictError(f"{self.path}: the frame rate must be a positive number, got {fps}")
        if self.path.is_dir():
            self.files, self.numbers = frame_files(self.path)
            if fps is None:
                raise PredictError(f"{self.path}: a folder of frames has no frame rate: give --fps")
            self.fps = float(fps)
        elif self.path.is_file():
            cap = open_video(self.path)
            if not cap.isOpened():
                raise PredictError(f"{self.path}: cannot be read as a video")
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            stated = cap.get(cv2.CAP_PROP_FPS)
            cap.release()
            self.files = None
            self.numbers = list(range(n))
            self.fps = float(fps or (stated if stated and stated > 0 else 0)) or None
            if self.fps is None:
                raise PredictError(f"{self.path}: the video states no frame rate: give --fps")
        else:
            raise PredictError(f"input not found: {self.path}")
        if len(self.numbers) < 2:
            raise PredictError(f"{self.path}: needs at least two frames, found {len(self.numbers)}")


    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def seconds(self) -> float:
        return len(self) / self.fps

    def frames(self, start: int = 0, stop: int | None = None):
        """Gray frames start..stop-1 (indices), one at a time (cut to ``crop`` where one is set)."""
        stop = len(self) if stop is None else stop
        from .align import align

        for frame in self._frames(start, stop):
            if self.transform is not None:
                frame = align(frame, self.transform)
            elif self.crop is not None:
                x0, y0, x1, y1 = self.crop
                frame = np.ascontiguousarray(frame[y0:y1, x0:x1])
            yield frame

    def _frames(self, start: int, stop: int):
        import cv2

        if self.files is not None:
            for p in self.files[start:stop]:
                yield read_frame(p, gray=True)
            return
        cap = open_video(self.path)
        try:
            if start:
                cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            for _ in range(start, stop):
                ok, frame = cap.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        finally:
            cap.release()


FACE_MODES = ("auto", "detect", "none")  # the CLI's and the schema's spotting.face choices (a test compares)
# auto: frames are a face crop already where the Haar box (widened by the margin) is at least FILLS_FRAME of
# the frame's shorter side (with alignment: microexpr.align.is_crop)
FILLS_FRAME = 0.75


def find_face(source: FrameSource, mode: str = "auto") -> str:
    """Put ``source``'s face in the layout spotting expects, from its first frame; returns what was done,
    for the output. With the ``faces`` extra installed (:mod:`microexpr.align`), every frame is aligned by
    the eyes found on the first frame (level, a fixed distance apart: the aligned face of
    :data:`microexpr.align.OUTPUT`); without it, frames are cut to the face box OpenCV's Haar cascade finds
    (:mod:`microexpr.face`; widened by the face section's margin, square). ``detect``: a face must be found;
    ``auto``: where none is found the frames are spotted whole, with a warning, and so are frames that are a
    face crop already (:func:`microexpr.align.is_crop`, :data:`FILLS_FRAME`);
    ``none``: whole frames."""
    from . import align
    from .face import FaceSettings, crop_box, detect_face
    from .predict import PredictError

    if mode not in FACE_MODES:
        raise PredictError(f"face must be one of {list(FACE_MODES)}, got {mode!r}")
    source.crop = source.transform = None
    if mode == "none":
        return "whole frames (face detection off)"
    first = next(source.frames(0, 1))
    if align.available():
        box = align.face_box(first)
        if box is not None and mode == "auto" and align.is_crop(box, first.shape):
            return "the face fills the frame: whole frames"  # decided by the detector: no landmarks read
        eyes = align.eye_centres(first, box) if box is not None else None
        if eyes is not None:
            (lx, ly), (rx, ry) = eyes
            source.transform = align.eye_transform(*eyes)
            return f"aligned by the eyes found on the first frame ({lx:.0f},{ly:.0f}) and ({rx:.0f},{ry:.0f})"
        how = "no face found on the first frame (dlib)"
    else:
        settings = FaceSettings()
        box = detect_face(first, min_size=settings.min_size, min_neighbors=settings.min_neighbors)
        if box is not None:
            x0, y0, x1, y1 = crop_box(box, settings.margin, first.shape)
            if mode == "auto" and (x1 - x0) >= FILLS_FRAME * min(first.shape):
                return "the face fills the frame: whole frames"
            source.crop = (x0, y0, x1, y1)
            return f"face found on the first frame: cut to x {x0}-{x1}, y {y0}-{y1} (no alignment: the faces extra is not installed)"
        how = "no face found on the first frame"
    if mode == "detect":
        raise PredictError(f"{source.path}: {how}")
    log.warning("%s: %s: spotting on whole frames", source.path, how)
    return f"{how}: whole frames"


def spot_source(source: FrameSource, settings: LongSpotSettings | None = None, face: str = "none"
                ) -> tuple[SpotSignal, list[dict]]:
    """The spotting signal of a whole source and its intervals, with frame numbers and seconds; ``face``
    (see :func:`find_face`) cuts the frames to the face first, and the source stays cut."""
    from .predict import PredictError

    source.face = find_face(source, face)
    try:
        signal = spot_signal(source.frames(), source.fps, settings)
    except ValueError as exc:
        raise PredictError(f"{source.path}: {exc}") from None
    found = []
    for iv in intervals(signal):
        row = {"type": iv["type"], "score": round(float(iv["score"]), 2), "index": (iv["onset"], iv["apex"], iv["offset"])}
        for key in ("onset", "apex", "offset"):
            row[key] = source.numbers[iv[key]]
            row[f"{key}_s"] = round(iv[key] / source.fps, 3)
        found.append(row)
    return signal, found


def classify_interval(bundle: dict, model, source: FrameSource, interval: dict, spotting: str | None = None) -> np.ndarray:
    """Class probabilities of one spotted interval: its frames (with the EVM pad either side) through the
    bundle's pre-processing, onset, apex and offset as spotted."""
    from .magnify import EVMSettings
    from .predict import Clip, clip_inputs, predict_clip

    i_on, i_apex, i_off = interval["index"]
    pad = EVMSettings(**bundle["settings"]["evm"]).pad_frames
    lo, hi = max(0, i_on - pad), min(len(source) - 1, i_off + pad)
    frames = np.stack(list(source.frames(lo, hi + 1)))
    clip = Clip(f"{source.path}@{interval['onset']}", frames, source.numbers[lo:lo + len(frames)], source.fps)
    inputs = clip_inputs(clip, bundle["settings"], onset=interval["onset"], apex=interval["apex"],
                         offset=interval["offset"], uncropped="none")  # the source's face is handled already
    return predict_clip(bundle, model, inputs)


def recognise(bundle: dict, model, source: FrameSource, found: list[dict]) -> list[dict]:
    """``found`` with each micro-expression's predicted class and probabilities (macro-expressions are
    not classified: the model knows micro-expressions). An interval the model cannot take (a frame rate
    below its EVM band) gets ``predicted`` empty and the reason in ``note``."""
    from .predict import PredictError

    classes = bundle["classes"]
    refused: dict[str, int] = {}
    for row in found:
        row.update({"predicted": "", **{f"p_{c}": None for c in classes}})
        if row["type"] != "micro":
            continue
        try:
            probs = classify_interval(bundle, model, source, row)
        except PredictError as exc:
            reason = str(exc).split(": ", 1)[-1]  # without the interval's name: the same for all of a video
            row["note"] = reason
            refused[reason] = refused.get(reason, 0) + 1
            continue
        row["predicted"] = classes[int(np.argmax(probs))]
        row.update({f"p_{c}": float(p) for c, p in zip(classes, probs)})
    for reason, n in refused.items():
        log.warning("%s: %d micro-expression interval(s) not classified: %s", source.path, n, reason)
    return found


def timeline_figure(signal: SpotSignal, found: list[dict], out: str | Path, title: str = "",
                    truth: list[dict] | None = None) -> Path:
    """The contrast at both scales against time, the threshold, each spotted interval shaded (micro
    orange, macro blue, with its class) and, where given, the true intervals as bars below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(signal.micro)) / signal.fps
    z = signal.settings.threshold
    fig, axes = plt.subplots(2, 1, figsize=(12, 4.2), sharex=True)
    colours = {"micro": "#e8862a", "macro": "#4a74d9"}
    for ax, C, noise, name in ((axes[0], signal.micro, signal.micro_noise, "micro"),
                               (axes[1], signal.macro, signal.macro_noise, "macro")):
        ax.plot(t, C / noise, lw=0.8, color="#333333")
        ax.axhline(z, color="#aa2222", lw=0.8, ls="--", label=f"threshold ({z:g} noise std)")
        for row in found:
            if row["type"] == name:
                ax.axvspan(row["onset_s"], row["offset_s"], color=colours[name], alpha=0.35)
                if row.get("predicted"):
                    ax.text(row["apex_s"], z * 1.05, row["predicted"], fontsize=7, ha="center", va="bottom")
        for row in truth or []:
            if row["type"] == name:
                ax.plot([row["onset_s"], row["offset_s"]], [-1.5, -1.5], lw=4, color=colours[name], solid_capstyle="butt")
        ax.set_yscale("symlog", linthresh=z)  # small peaks near the threshold and large ones both readable
        ax.set_ylabel(f"{name} scale\ncontrast / noise")
        ax.legend(loc="upper right", fontsize=7)
    axes[1].set_xlabel("time (s)")
    fig.suptitle(title + ("  (bars below: the coded intervals)" if truth else ""), fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(out)


def predict_long(model_path: str | Path | None, path: str | Path, *, fps: float | None = None,
                 out_dir: str | Path | None = None, png: bool = False, settings: LongSpotSettings | None = None,
                 name: str | None = None, bundle: dict | None = None, model=None, face: str = "auto") -> dict:
    """Spot the intervals of one long video and classify its micro-expressions with the bundle at
    ``model_path`` (or the loaded ``bundle`` and ``model``; neither: spotting only). With ``out_dir``:
    ``<name>_intervals.csv`` and ``<name>_intervals.json`` (and with ``png`` the timeline
    ``<name>_timeline.png``) are written there. ``face``: see :func:`find_face` (by default a face found
    smaller than the frame is cut out first; the result's ``face`` says what was done)."""
    from .predict import PredictError, build_model, load_bundle

    if png and not out_dir:
        raise PredictError("png figures need an output folder (--out)")
    source = FrameSource(path, fps)
    if bundle is None and model_path:
        bundle = load_bundle(model_path)
    signal, found = spot_source(source, settings, face)
    if bundle is not None:
        found = recognise(bundle, model if model is not None else build_model(bundle), source, found)
    for row in found:
        row["input"] = str(source.path)
    result = {"input": str(source.path), "fps": source.fps, "frames": len(source), "seconds": round(source.seconds, 3),
              "face": source.face,
              "spotting": signal.settings.to_dict(), "intervals": [{k: v for k, v in r.items() if k != "index"} for r in found]}
    if out_dir:
        import pandas as pd

        out_dir = Path(out_dir)
        stem = name or (source.path.stem if source.path.is_file() else source.path.name)
        table = pd.DataFrame(result["intervals"])
        if table.empty:
            table = pd.DataFrame(columns=list(INTERVAL_COLUMNS))
        with atomic_path(out_dir / f"{stem}_intervals.csv") as tmp:
            table.to_csv(tmp, index=False)
        with atomic_path(out_dir / f"{stem}_intervals.json") as tmp:
            tmp.write_text(json.dumps({"model": str(model_path) if model_path else None, **result}, indent=2))
        if png:
            timeline_figure(signal, found, out_dir / f"{stem}_timeline.png", title=str(source.path))
    return result
