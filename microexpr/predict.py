"""Use a trained model: the bundle a run leaves (``final_model.pt``) and predictions on new clips.

A bundle is self-contained: the weights, the class names, every pre-processing and training setting
that made the model's inputs (face crop, EVM, optical flow, image size, threshold, global motion), the
software versions, the LOSO scores it stands on and how many epochs it was trained for. ``predict``
runs the workflow's own library functions on a new clip (a folder of frames or a video file): face crop
when the bundle was trained with it, EVM of onset..offset, onset -> apex flow, flow image, mask and
masked apex at the model size; then the model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .bundle import bundle_config, load_bundle, member_bundles
from .errors import PredictError
from .io import MAX_FRAMES, Clip, atomic_path, read_clip
from .spotting import DEFAULT_SPOTTING

log = logging.getLogger(__name__)

def build_model(bundle: dict):
    """The bundle's model with its weights (an ensemble: a list, one model per member)."""
    from .clip import ImageSettings
    from .training.loop import build_model as build

    from .handcrafted import is_handcrafted

    if bundle.get("members"):
        return [build_model(b) for b in member_bundles(bundle)]
    _check_registered(bundle)
    if is_handcrafted(bundle["train"].get("model")):  # a linear SVM: its arrays are the model
        return bundle["model"]
    uvs_size = ImageSettings(**bundle["settings"]["images"]).uvs_size
    model = build(bundle_config(bundle), len(bundle["classes"]), uvs_size)
    model.load_state_dict(bundle["model"])
    return model.eval()


def _check_registered(bundle: dict) -> None:
    """Every flow method, stream and model the bundle names is registered here, or a PredictError that
    names the plugins it was trained with (a bundle never loads code itself: they are given with --plugin)."""
    from .flow import FLOW_METHODS
    from .handcrafted import is_handcrafted
    from .models import fold_models
    from .streams import STREAMS

    train, settings = bundle["train"], bundle["settings"]
    method = (settings.get("flow") or {}).get("method", "tvl1")
    missing = [f"flow method {method!r}"] if method not in FLOW_METHODS else []
    model = train.get("model", "mscnn")
    if not is_handcrafted(model):
        if model not in fold_models():
            missing.append(f"model {model!r}")
        missing += [f"stream {s!r}" for s in train.get("streams") or [] if model == "mscnn" and s not in STREAMS]
    if missing:
        plugins = settings.get("plugins") or []
        given = f"it was trained with plugins {plugins}: load them with --plugin" if plugins else "load the module " \
            "that registers them with --plugin"
        raise PredictError(f"the model needs {', '.join(missing)}, which nothing here registers; {given}")


def _index(clip: Clip, number: int | None, what: str) -> int | None:
    if number is None:
        return None
    if number not in clip.numbers:
        raise PredictError(f"{clip.source}: {what} frame {number} is not among its frames "
                           f"{clip.numbers[0]}..{clip.numbers[-1]}")
    return clip.numbers.index(number)


def clip_inputs(clip: Clip, settings: dict, *, onset: int | None = None, apex: int | None = None,
                offset: int | None = None, spotting: str = DEFAULT_SPOTTING, uncropped: str = "auto") -> dict:
    """The model inputs of one clip (what the workflow's magnify, flow and shard stages make of it:
    :func:`microexpr.clip.process_clip`), with the onset/apex/offset used and how they were found;
    ``spotting`` names the flow that measures the motion where the apex is spotted (a key of
    :data:`microexpr.spotting.SPOT_FLOWS`). ``uncropped`` ``auto``: where the model was trained without
    face detection and the onset frame shows a face smaller than a face crop
    (:func:`microexpr.align.scene_face`, the detector only; the ``faces`` extra), the clip is cut to it
    and ``how`` says so; ``none``: never."""
    from .clip import ClipSettings, process_clip

    i_on, i_apex, i_off, how = _interval(clip, onset, apex, offset, spotting)
    clip_settings = ClipSettings.from_sections(settings)  # defaults where an older bundle lacks a key
    evm = clip_settings.evm
    if evm.min_fps() and clip.fps < evm.min_fps() - 1e-9:
        raise PredictError(f"{clip.source}: {clip.fps:g} fps is too low for the model's EVM band "
                           f"({evm.low_hz:g}-{evm.high_hz:g} Hz, upper edge at most half the frame rate): "
                           f"it accepts clips of at least {evm.min_fps():g} fps")
    pad = evm.pad_frames  # as the workflow: EVM sees up to pad frames either side
    lo, hi = max(0, i_on - pad), min(len(clip.frames) - 1, i_off + pad)
    k_on, k_apex = i_on - lo, i_apex - lo
    frames, how = _face_frames(clip, clip.frames[lo:hi + 1], k_on, settings.get("face") or {}, uncropped, how)
    try:
        made = process_clip(frames, clip.fps, k_on, k_apex, clip_settings)
    except ValueError as exc:
        raise PredictError(f"{clip.source}: {exc}") from None
    return {"streams": made.streams[0], "onset": clip.numbers[i_on], "apex": clip.numbers[i_apex],
            "offset": clip.numbers[i_off], "how": how, "onset_frame": made.magnified[k_on],
            "apex_frame": made.magnified[k_apex], "flow": made.flow,
            "block": made.magnified[k_on:k_on + i_off - i_on + 1]}  # onset..offset, for the hand-crafted methods


def _interval(clip: Clip, onset, apex, offset, spotting: str) -> tuple[int, int, int, str]:
    """Indices of the onset, apex and offset (spotted where not given) and how they were found."""
    from .spotting import SPOT_FLOWS, spot_apex

    if spotting not in SPOT_FLOWS:
        raise PredictError(f"spotting must be one of {sorted(SPOT_FLOWS)}, got {spotting!r}")
    i_on, i_apex, i_off = _index(clip, onset, "onset"), _index(clip, apex, "apex"), _index(clip, offset, "offset")
    if i_on is not None and i_off is not None and i_on > i_off:
        raise PredictError(f"{clip.source}: onset {onset} is after offset {offset}")
    if i_apex is not None and ((i_on is not None and i_apex < i_on) or (i_off is not None and i_apex > i_off)):
        raise PredictError(f"{clip.source}: apex {apex} lies outside onset..offset")
    if i_apex is None:
        i_on, i_apex, i_off, how = spot_apex(clip.frames, i_on, i_off, flow=SPOT_FLOWS[spotting])
        return i_on, i_apex, i_off, f"{how[:-1]}; {'feature difference' if spotting == 'fd' else spotting + ' flow'})"
    how = "onset, apex and offset given"
    if onset is None or offset is None:
        how = "apex given; onset/offset the first/last frame where not given"
    return 0 if i_on is None else i_on, i_apex, len(clip.frames) - 1 if i_off is None else i_off, how


def _face_frames(clip: Clip, frames: np.ndarray, k_on: int, face_section: dict, uncropped: str,
                 how: str) -> tuple[np.ndarray, str]:
    """The frames as the model's training saw them: cut to the face (or aligned by the eyes) of the onset
    frame where the run detected faces; a scene cut to its face for a model of face crops (``auto``)."""
    from .face import FaceSettings, crop_box, detect_face

    face = FaceSettings(**face_section)
    if face.detect:
        box = detect_face(frames[k_on], min_size=face.min_size, min_neighbors=face.min_neighbors, detector=face.detector)
        if box is None:
            raise PredictError(f"{clip.source}: no face found on the onset frame (the model was trained on face crops)")
        if face.align:  # as the workflow's crop stage: warped by the eyes of the onset frame
            from . import align

            eyes = align.eye_centres(frames[k_on], box if face.detector == "dlib" else None)
            if eyes is None:
                raise PredictError(f"{clip.source}: no eyes found on the onset frame (the model was trained on aligned faces)")
            transform = align.eye_transform(*eyes)
            return np.stack([align.align(f, transform) for f in frames]), how
        x0, y0, x1, y1 = crop_box(box, face.margin, frames[k_on].shape)
        return np.ascontiguousarray(frames[:, y0:y1, x0:x1]), how
    if uncropped == "auto":
        from . import align

        found = align.scene_face(frames[k_on]) if align.available() else None
        if found is not None:  # a model trained on face crops, given a scene: cut the clip to its face
            x0, y0, x1, y1 = crop_box(found, face.margin, frames[k_on].shape)
            cut = f"the onset frame shows a face smaller than a face crop: cut to x {x0}-{x1}, y {y0}-{y1}"
            log.warning("%s: %s", clip.source, cut)
            return np.ascontiguousarray(frames[:, y0:y1, x0:x1]), f"{how}; {cut}"
    return frames, how


def stream_tensors(streams, names: tuple[str, ...], input_scale: str = "standard") -> dict:
    """Stream images -> normalised tensors, exactly as training batches are made."""
    import torch

    from .streams import channels_first
    from .training.data import normalise

    images = {s: torch.from_numpy(np.ascontiguousarray(channels_first(s, streams[s][None]))) for s in names}
    return normalise(images, torch.device("cpu"), input_scale)


def predict_clip(bundle: dict, model, inputs: dict) -> np.ndarray:
    import torch

    from .handcrafted import clip_features, is_handcrafted
    from .svm import scores_from_arrays

    if bundle.get("members"):  # an ensemble: the mean of its members' class probabilities
        return np.mean([predict_clip(b, m, inputs) for b, m in zip(member_bundles(bundle), model)], axis=0)
    method = bundle["train"].get("model")
    if is_handcrafted(method):  # the features the workflow's features stage makes, with the run's settings
        settings = (bundle["settings"].get("features") or {}).get(method)
        return scores_from_arrays(model, clip_features(method, inputs["block"], inputs["flow"], settings)[None])[0]
    with torch.no_grad():
        from .training.loop import data_streams

        cfg = bundle_config(bundle)
        logits = model(stream_tensors(inputs["streams"], data_streams(cfg), cfg.input_scale))
    probs = torch.softmax(logits.float(), dim=1)[0].numpy()
    if not np.isfinite(probs).all():
        raise PredictError("the model's outputs are not finite: the bundle's weights are damaged or diverged")
    return probs


def figure(result: dict, inputs: dict, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = inputs["streams"]
    panels = [("onset", inputs["onset_frame"]), ("apex", inputs["apex_frame"]), ("flow image", s.flow[..., ::-1]),
              ("mask", s.mask)]
    fig, axes = plt.subplots(1, 5, figsize=(13, 2.8))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    classes = list(result["probabilities"])
    axes[-1].barh(classes, [result["probabilities"][c] for c in classes], color="#4a74d9")
    axes[-1].set_xlim(0, 1)
    axes[-1].set_title(f"predicted: {result['predicted']}", fontsize=9)
    fig.suptitle(f"{result['input']} (onset {result['onset']}, apex {result['apex']}, offset {result['offset']})",
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(out)


def output_names(sources: list[str]) -> list[str]:
    """One file-name stem per input, unique within a batch: the input's path relative to the inputs'
    common folder, without its extension, with folders joined by ``__`` (``sub01/EP01_01`` and
    ``sub02/EP01_01`` -> ``sub01__EP01_01``, ``sub02__EP01_01``); a lone input is its own name."""
    import os

    paths = [Path(p).resolve() for p in sources]
    if len(paths) == 1:
        return [paths[0].stem if paths[0].is_file() else paths[0].name]
    common = Path(os.path.commonpath([p.parent for p in paths]))
    names = []
    for p in paths:
        rel = p.relative_to(common)
        rel = rel.with_suffix("") if p.is_file() else rel
        names.append("__".join(rel.parts))
    seen = {}
    for i, n in enumerate(names):  # the same clip given twice: number the repeats
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n}__{seen[n]}"
    return names


CLIP_TABLE_COLUMNS = ("path", "onset", "apex", "offset", "fps")


def read_clip_table(csv_path: str | Path) -> dict[str, dict]:
    """A CSV of clips to classify, one row each: ``path`` (a folder of frames or a video; relative to the
    CSV's folder unless absolute) and, optionally, ``onset``, ``apex``, ``offset`` (frame numbers) and
    ``fps``; an empty cell is "not given". Returns {path: {onset, apex, offset, fps}} in the file's order.
    A bad cell is an error naming the file, its line and the column."""
    import csv

    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
            header = [c.strip().lower() for c in (rows[0].keys() if rows else [])]
    except FileNotFoundError:
        raise PredictError(f"clip table not found: {csv_path}") from None
    except UnicodeDecodeError as exc:
        raise PredictError(f"{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not rows:
        raise PredictError(f"{csv_path}: no clips (a header with a path column, then one row per clip)")
    if "path" not in header or set(header) - set(CLIP_TABLE_COLUMNS):
        raise PredictError(f"{csv_path}: columns {header}; expected path and any of {list(CLIP_TABLE_COLUMNS[1:])}")
    table = {}
    for line, raw in enumerate(rows, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            raise PredictError(f"{csv_path}, line {line}: more cells than columns")
        if not row["path"]:
            raise PredictError(f"{csv_path}, line {line}: empty path")
        path = Path(row["path"])
        path = path if path.is_absolute() else csv_path.parent / path
        values = {}
        for key, kind in (("onset", int), ("apex", int), ("offset", int), ("fps", float)):
            text = row.get(key, "")
            try:
                values[key] = kind(text) if text else None
            except ValueError:
                raise PredictError(f"{csv_path}, line {line}: {key} {text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if str(path) in table:
            raise PredictError(f"{csv_path}, line {line}: {path} is listed twice")
        table[str(path)] = values
    return table


def predict(model_path: str | Path, paths: list[str | Path], *, onset: int | None = None, apex: int | None = None,
            offset: int | None = None, fps: float | None = None, out_dir: str | Path | None = None,
            png: bool = False, max_frames: int = MAX_FRAMES, failed: list | None = None,
            progress: bool = False, per_clip: dict[str, dict] | None = None,
            spotting: str = DEFAULT_SPOTTING, uncropped: str = "auto") -> list[dict]:
    """Class probabilities of each input clip; with ``out_dir``, ``predictions.csv``, ``predictions.json``
    (and with ``png`` one figure per clip, named by :func:`output_names`) are written there.

    A clip that cannot be read or classified raises :class:`PredictError`, unless a list is given as
    ``failed``: then each such clip is logged, appended there as ``{"input", "error"}`` (and listed in
    ``predictions.json``), and the others are still classified and written. ``per_clip`` (from
    :func:`read_clip_table`) gives a clip its own onset, apex, offset and fps where it states them.
    ``spotting``: the flow that spots an apex not given; ``uncropped``: whether a scene is cut to its face
    (see :func:`clip_inputs`)."""
    if png and not out_dir:
        raise PredictError("png figures need an output folder (--out)")
    bundle = load_bundle(model_path)
    model = build_model(bundle)
    results, errors = [], []
    names = dict(zip(map(str, paths), output_names([str(p) for p in paths]))) if png else {}
    items = paths
    if progress:
        from tqdm import tqdm

        items = tqdm(paths, desc="predict", unit="clip", disable=len(paths) < 2)
    for path in items:
        own = {k: v for k, v in ((per_clip or {}).get(str(path)) or {}).items() if v is not None}
        marks = {"onset": onset, "apex": apex, "offset": offset, **{k: own[k] for k in ("onset", "apex", "offset") if k in own}}
        try:
            clip = read_clip(path, own.get("fps", fps), max_frames)
            inputs = clip_inputs(clip, bundle["settings"], **marks, spotting=spotting, uncropped=uncropped)
            probs = predict_clip(bundle, model, inputs)
        except PredictError as exc:
            if failed is None:
                raise
            log.error("skipped %s: %s", path, exc)
            errors.append({"input": str(path), "error": str(exc)})
            continue
        result = {"input": clip.source, "predicted": bundle["classes"][int(np.argmax(probs))],
                  "probabilities": {c: float(p) for c, p in zip(bundle["classes"], probs)},
                  "onset": inputs["onset"], "apex": inputs["apex"], "offset": inputs["offset"],
                  "how": inputs["how"], "fps": clip.fps, "frames": len(clip.frames)}
        results.append(result)
        if png:
            figure(result, inputs, Path(out_dir) / f"{names[str(path)]}.png")
    if failed is not None:
        failed.extend(errors)
    if out_dir:
        import pandas as pd

        out_dir = Path(out_dir)
        table = pd.DataFrame([{**{k: v for k, v in r.items() if k != "probabilities"},
                               **{f"p_{c}": p for c, p in r["probabilities"].items()}} for r in results])
        with atomic_path(out_dir / "predictions.csv") as tmp:
            table.to_csv(tmp, index=False)
        with atomic_path(out_dir / "predictions.json") as tmp:
            tmp.write_text(json.dumps({"model": str(model_path), "loso": bundle["loso"], "clips": results,
                                       **({"failed": errors} if failed is not None else {})}, indent=2))
    return results
