"""Pre-processing stages, one subject at a time, each ending in one HDF5 file (written atomically).

1. :func:`magnify_subject`: EVM of each clip's onset..offset segment (gray) -> ``frames`` per clip.
2. :func:`flow_subject`: optical flow onset -> apex on the magnified segment -> ``flow`` (u, v),
   ``strain``, ``onset`` and ``apex`` gray images, at the frames' own size.
3. :func:`shard_subject`: flow and apex resized to the model size; global (head) motion removed;
   flow image, mask and masked apex;
   augmentation x10 ({original, horizontal flip} x {0, +5, -5, +10, -10 degrees}; flips negate u and
   rotations turn the vectors with the image) -> the subject's shard.

The gray apex stream is the apex of the *magnified* segment (at alpha 0, the original apex).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .datasets.manifest import frame_paths
from .errors import DatasetError, FrameError
from .flow import (
    AUGMENTATIONS, make_flow_estimator, optical_strain, remove_global_motion, resize_flow, stream_images,
)
from .io import atomic_path, read_frame
from .magnify import magnify

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")  # HDF5 on NFS (cluster home folders)
import h5py  # noqa: E402

log = logging.getLogger(__name__)
SHARD_FORMAT = 1


def _progress(items, desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="clip", disable=not progress, mininterval=2.0)


def _rows(manifest: pd.DataFrame, subject: str) -> pd.DataFrame:
    rows = manifest[manifest.subject == subject]
    if rows.empty:
        raise DatasetError(f"subject {subject!r} has no clips in the manifest")
    return rows


def read_segment(row, pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gray frames onset-pad .. offset+pad of one manifest row (padding only where frames exist).

    Returns (T x H x W uint8, frame numbers). A frame onset..offset that is missing or cannot be
    decoded raises :class:`FrameError` naming the file; so do frames of differing sizes.
    """
    paths = frame_paths(row)
    numbers = list(range(int(row["onset"]), int(row["offset"]) + 1))
    folder, template = Path(row["frame_dir"]), row["frame_template"]
    before, after = [], []
    for k in range(1, pad + 1):
        p = folder / template.format(frame=numbers[0] - k)
        if not p.is_file():
            break
        before.insert(0, (numbers[0] - k, p))
    for k in range(1, pad + 1):
        p = folder / template.format(frame=numbers[-1] + k)
        if not p.is_file():
            break
        after.append((numbers[-1] + k, p))
    items = before + list(zip(numbers, paths)) + after
    frames = [read_frame(p, gray=True) for _, p in items]
    shape = frames[0].shape
    for (_, p), f in zip(items, frames):
        if f.shape != shape:
            raise FrameError(f"frame {p} is {f.shape[1]}x{f.shape[0]}, the clip's first is {shape[1]}x{shape[0]}")
    return np.stack(frames), np.array([n for n, _ in items])


def _key(clip: str) -> str:
    return clip.replace("/", "_")


def magnify_subject(manifest: pd.DataFrame, subject: str, out: str | Path, *, alpha: float,
                    filter: str = "ideal", low_hz: float = 5.0, high_hz: float = 20.0,
                    lambda_c: float = 16.0, levels: int | None = None, r1: float = 0.4,
                    r2: float = 0.05, pad_frames: int = 0, progress: bool = True) -> Path:
    """EVM of every clip of ``subject``; writes ``out`` (one group per clip: frames, frame_numbers)."""
    rows = _rows(manifest, subject)
    params = dict(alpha=alpha, filter=filter, low_hz=low_hz, high_hz=high_hz, lambda_c=lambda_c,
                  levels=levels, r1=r1, r2=r2)
    n_frames, t0 = 0, time.perf_counter()
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update({"stage": "magnify", "subject": subject, "microexpr": __version__,
                         "pad_frames": pad_frames, **{k: ("none" if v is None else v) for k, v in params.items()}})
        for row in _progress(rows.to_dict("records"), f"EVM {subject}", progress):
            frames, numbers = read_segment(row, pad_frames)
            # a filter band above the clip's Nyquist frequency is an error in magnify(); say which clip
            try:
                mag = magnify(frames, row["fps"], **params)
            except ValueError as exc:
                raise DatasetError(f"{row['sample_id']}: {exc}") from exc
            g = h5.create_group(_key(row["clip"]))
            g.create_dataset("frames", data=np.clip(np.rint(mag), 0, 255).astype(np.uint8),
                             compression="gzip", compression_opts=1, chunks=(1,) + mag.shape[1:])
            g.create_dataset("frame_numbers", data=numbers)
            g.attrs.update({"sample_id": row["sample_id"], "onset": row["onset"], "apex": row["apex"],
                            "offset": row["offset"], "fps": row["fps"]})
            n_frames += len(frames)
    dt = time.perf_counter() - t0
    log.info("EVM %s: %d clips, %d frames in %.1f s (%.0f frames/s)", subject, len(rows), n_frames, dt,
             n_frames / max(dt, 1e-9))
    return Path(out)


def flow_subject(magnified: str | Path, out: str | Path, *, method: str = "tvl1", params: dict | None = None,
                 progress: bool = True) -> Path:
    """Optical flow onset -> apex of every clip in a magnified file; writes ``out``."""
    params = dict(params or {})
    estimate = make_flow_estimator(method, **params)
    t_flow, pairs = 0.0, 0
    with h5py.File(magnified, "r") as src, atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update({k: v for k, v in src.attrs.items() if k not in ("stage",)})
        h5.attrs.update({"stage": "flow", "method": method, "flow_params": repr(sorted(params.items())),
                         "microexpr": __version__})
        for name in _progress(sorted(src), f"flow {src.attrs.get('subject', '')}", progress):
            g = src[name]
            numbers = list(g["frame_numbers"][()])
            onset = g["frames"][numbers.index(int(g.attrs["onset"]))]
            apex = g["frames"][numbers.index(int(g.attrs["apex"]))]
            t0 = time.perf_counter()
            flow = np.ascontiguousarray(estimate(onset, apex), dtype=np.float32)
            t_flow += time.perf_counter() - t0
            pairs += 1
            o = h5.create_group(name)
            o.attrs.update(dict(g.attrs))
            # float fields barely compress and gzip would cost more than DIS itself: stored raw
            o.create_dataset("flow", data=flow)
            o.create_dataset("strain", data=optical_strain(flow))
            o.create_dataset("onset", data=onset)
            o.create_dataset("apex", data=apex)
    log.info("flow (%s): %d pairs, %.1f ms/pair", method, pairs, 1000 * t_flow / max(pairs, 1))
    return Path(out)


def shard_subject(flow_file: str | Path, manifest: pd.DataFrame, out: str | Path, *, classes: list[str],
                  size: int = 224, threshold: int = 50, max_magnitude: float | None = None,
                  global_motion: str = "median", augment: bool = True, progress: bool = True) -> Path:
    """Stream images (x10 augmented) of one subject -> its shard.

    Datasets (N samples): ``flow`` N x S x S x 3 uint8 (BGR of the HSV flow image), ``gray``,
    ``masked`` and ``mask`` (0/255) N x S x S uint8, ``label`` (index into the ``classes`` attribute), ``sample_id``,
    ``aug`` (0 = the original; see :data:`microexpr.flow.AUGMENTATIONS`).
    """
    import cv2

    by_id = manifest.set_index("sample_id")
    augs = AUGMENTATIONS if augment else AUGMENTATIONS[:1]
    out_flow, out_gray, out_masked, out_mask, labels, ids, aug_ids = [], [], [], [], [], [], []
    with h5py.File(flow_file, "r") as src:
        subject = str(src.attrs.get("subject", ""))
        attrs = {k: v for k, v in src.attrs.items() if k != "stage"}
        for name in _progress(sorted(src), f"shard {subject}", progress):
            g = src[name]
            sid = str(g.attrs["sample_id"])
            if sid not in by_id.index:
                raise DatasetError(f"{flow_file}: clip {sid} is not in the manifest")
            label = by_id.loc[sid, "label"]
            if label not in classes:
                raise DatasetError(f"{sid}: label {label!r} is not one of the classes {classes}")
            flow = remove_global_motion(resize_flow(g["flow"][()], (size, size)), global_motion)
            apex = cv2.resize(g["apex"][()], (size, size), interpolation=cv2.INTER_AREA)
            for a, (flip, angle) in enumerate(augs):
                s = stream_images(flow, apex, threshold=threshold, max_magnitude=max_magnitude, flip=flip,
                                  angle=angle)
                out_flow.append(s.flow)
                out_gray.append(s.gray)
                out_masked.append(s.masked)
                out_mask.append(s.mask)
                labels.append(classes.index(label))
                ids.append(sid)
                aug_ids.append(a)
    if not ids:
        raise DatasetError(f"{flow_file}: no clips")
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        opts = dict(compression="gzip", compression_opts=1)
        h5.create_dataset("flow", data=np.stack(out_flow), chunks=(1, size, size, 3), **opts)
        h5.create_dataset("gray", data=np.stack(out_gray), chunks=(1, size, size), **opts)
        h5.create_dataset("masked", data=np.stack(out_masked), chunks=(1, size, size), **opts)
        h5.create_dataset("mask", data=np.stack(out_mask), chunks=(1, size, size), **opts)
        h5.create_dataset("label", data=np.array(labels, np.int64))
        h5.create_dataset("sample_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        h5.create_dataset("aug", data=np.array(aug_ids, np.int8))
        h5.attrs.update(attrs)
        h5.attrs.update({"stage": "shard", "format": SHARD_FORMAT, "subject": subject, "classes": list(classes),
                         "size": size, "threshold": threshold, "mask_channel": "hsv_value",
                         "max_magnitude": "per-image" if max_magnitude is None else max_magnitude,
                         "global_motion": global_motion,
                         "augmentations": repr(list(augs)), "microexpr": __version__})
    log.info("shard %s: %d clips x %d = %d samples at %dx%d", subject, len(set(ids)), len(augs), len(ids),
             size, size)
    return Path(out)


def read_shard(path: str | Path, *, augmented: bool = False,
               streams: Iterable[str] = ("flow", "gray", "masked")) -> dict[str, np.ndarray]:
    """Load a shard. By default only the original samples (``aug == 0``): held-out subjects must be
    evaluated un-augmented; pass ``augmented=True`` for training data."""
    with h5py.File(path, "r") as h5:
        aug = h5["aug"][()]
        keep = np.ones_like(aug, bool) if augmented else aug == 0
        idx = np.flatnonzero(keep)
        data = {s: h5[s][()][idx] for s in streams}
        data["label"] = h5["label"][()][idx]
        data["aug"] = aug[idx]
        data["sample_id"] = np.array([s.decode() if isinstance(s, bytes) else s for s in h5["sample_id"][()][idx]])
        data["classes"] = [str(c) for c in h5.attrs["classes"]]
    return data


def write_shard_index(shards: Iterable[str | Path], out: str | Path) -> pd.DataFrame:
    """One row per shard: subject, path, clips, samples, and original clips per class."""
    rows = []
    for path in shards:
        with h5py.File(path, "r") as h5:
            classes = [str(c) for c in h5.attrs["classes"]]
            aug = h5["aug"][()]
            labels = h5["label"][()][aug == 0]
            row = {"subject": str(h5.attrs["subject"]), "path": str(Path(path).resolve()),
                   "clips": int((aug == 0).sum()), "samples": int(len(aug))}
            row.update({f"n_{c}": int((labels == i).sum()) for i, c in enumerate(classes)})
            rows.append(row)
    index = pd.DataFrame(rows)
    with atomic_path(out) as tmp:
        index.to_csv(tmp, sep="\t", index=False)
    log.info("%d shards, %d clips, %d samples", len(index), index.clips.sum(), index.samples.sum())
    return index
