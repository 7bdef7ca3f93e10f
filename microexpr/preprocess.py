"""Pre-processing stages, one subject at a time, each ending in one HDF5 file (written atomically).

1. :func:`magnify_subject`: EVM of each clip's onset..offset segment (gray) -> ``frames`` per clip.
2. :func:`flow_subject`: optical flow onset -> apex on the magnified segment -> ``flow`` (u, v),
   ``strain``, ``onset`` and ``apex`` gray images, at the frames' own size.
3. :func:`shard_subject`: flow and apex resized to the model size; global (head) motion removed;
   every registered stream (:mod:`microexpr.streams`: flow image, gray apex, masked apex, mask, u/v/strain);
   augmentation x10 ({original, horizontal flip} x {0, +5, -5, +10, -10 degrees}; flips negate u and
   rotations turn the vectors with the image) -> the subject's shard.

The gray apex stream is the apex of the *magnified* segment (at alpha 0, the original apex). Each
stage runs the steps of :mod:`microexpr.clip` on its clips, as ``microexpr predict`` does on one.
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
from .datasets.frames import frame_paths, frame_table
from .clip import ImageSettings, clip_streams, encoded_streams, flow_field, magnify, without_global_motion
from .config import typed_section
from .errors import DatasetError, FrameError
from .flow import augmentations, make_flow_estimator, optical_strain, transform_image
from .io import atomic_path, read_frame
from .magnify import EVMSettings
from .streams import STREAMS, StreamImages

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")  # HDF5 on NFS (cluster home folders)
import h5py  # noqa: E402

log = logging.getLogger(__name__)
SHARD_FORMAT = 2  # 2: the uvs stream
_I = ImageSettings()


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
    table = frame_table(row)  # the names the manifest found
    paths = frame_paths(row)
    numbers = list(range(int(row["onset"]), int(row["offset"]) + 1))
    before, after = [], []
    for k in range(1, pad + 1):
        p = table.get(numbers[0] - k)
        if p is None or not p.is_file():
            break
        before.insert(0, (numbers[0] - k, p))
    for k in range(1, pad + 1):
        p = table.get(numbers[-1] + k)
        if p is None or not p.is_file():
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


def magnify_subject(manifest: pd.DataFrame, subject: str, out: str | Path, *, crops: dict | None = None,
                    transforms: dict | None = None, crops_file: str | Path | None = None, progress: bool = True,
                    **evm) -> Path:
    """EVM of every clip of ``subject``; writes ``out`` (one group per clip: frames, frame_numbers).

    ``evm``: the fields of :class:`microexpr.magnify.EVMSettings` (the configuration's ``evm`` section).
    ``crops`` (sample_id -> (x0, y0, x1, y1) or None, see :mod:`microexpr.face`) crops every frame of
    a clip to its face box first; clips whose box is None (no face found) are skipped and counted.
    ``transforms`` (sample_id -> 2 x 3, :func:`microexpr.face.read_transforms`) warp a clip into an aligned
    face by its eyes instead. ``crops_file``: the crop stage's file, read for both.
    """
    if crops_file is not None:
        from .face import read_crops, read_transforms

        crops, transforms = read_crops(crops_file), read_transforms(crops_file)
    settings = typed_section(EVMSettings, evm, "evm")
    params, pad_frames = settings.filter_kwargs(), settings.pad_frames
    rows = _rows(manifest, subject)
    skipped = []
    n_frames, t0 = 0, time.perf_counter()
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update({"stage": "magnify", "subject": subject, "microexpr": __version__,
                         "pad_frames": pad_frames, **{k: ("none" if v is None else v) for k, v in params.items()}})
        for row in _progress(rows.to_dict("records"), f"EVM {subject}", progress):
            if crops is not None and crops.get(row["sample_id"]) is None:
                skipped.append(row["sample_id"])
                continue
            frames, numbers = read_segment(row, pad_frames)
            if transforms and row["sample_id"] in transforms:
                from .align import align

                frames = np.stack([align(f, transforms[row["sample_id"]]) for f in frames])
            elif crops is not None:
                x0, y0, x1, y1 = crops[row["sample_id"]]
                frames = np.ascontiguousarray(frames[:, y0:y1, x0:x1])
            # a filter band above the clip's Nyquist frequency is an error in magnify(); say which clip
            try:
                mag = magnify(frames, row["fps"], settings)
            except ValueError as exc:
                raise DatasetError(f"{row['sample_id']}: {exc}") from exc
            g = h5.create_group(_key(row["clip"]))
            g.create_dataset("frames", data=mag, compression="gzip", compression_opts=1, chunks=(1,) + mag.shape[1:])
            g.create_dataset("frame_numbers", data=numbers)
            g.attrs.update({"sample_id": row["sample_id"], "onset": row["onset"], "apex": row["apex"],
                            "offset": row["offset"], "fps": row["fps"]})
            n_frames += len(frames)
        if len(skipped) == len(rows):
            raise DatasetError(f"subject {subject}: no face found in any clip ({', '.join(skipped)})")
        h5.attrs["skipped_no_face"] = ",".join(skipped)
    dt = time.perf_counter() - t0
    if skipped:
        log.warning("EVM %s: %d clip(s) without a face left out: %s", subject, len(skipped), ", ".join(skipped))
    log.info("EVM %s: %d clips, %d frames in %.1f s (%.0f frames/s)", subject, len(rows) - len(skipped), n_frames,
             dt, n_frames / max(dt, 1e-9))
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
            flow = flow_field(onset, apex, estimate)
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


class ShardWriter:
    """Collects the (augmented) stream images of one subject and writes them as its shard."""

    def __init__(self, classes: list[str], size: int):
        self.classes, self.size = list(classes), size
        self.arrays: dict[str, list] = {k: [] for k in (*STREAMS, "label", "sample_id", "aug")}

    def add(self, sample_id: str, label: str, samples: list[StreamImages]) -> None:
        if label not in self.classes:
            raise DatasetError(f"{sample_id}: label {label!r} is not one of the classes {self.classes}")
        for a, s in enumerate(samples):
            for key in STREAMS:
                self.arrays[key].append(s[key])
            self.arrays["label"].append(self.classes.index(label))
            self.arrays["sample_id"].append(sample_id)
            self.arrays["aug"].append(a)

    def write(self, out: str | Path, attrs: dict) -> Path:
        if not self.arrays["sample_id"]:
            raise DatasetError(f"{out}: no samples to write")
        size, a = self.size, self.arrays
        with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
            opts = dict(compression="gzip", compression_opts=1)
            for key, stream in STREAMS.items():  # every registered stream; an image a chunk, small ones 256
                images = np.stack(a[key])
                rows = 1 if stream.side == "size" else min(len(images), 256)
                h5.create_dataset(key, data=images, chunks=(rows,) + images.shape[1:], **opts)
            h5.create_dataset("label", data=np.array(a["label"], np.int64))
            h5.create_dataset("sample_id", data=np.array(a["sample_id"], dtype=object), dtype=h5py.string_dtype())
            h5.create_dataset("aug", data=np.array(a["aug"], np.int8))
            h5.attrs.update(attrs)
            h5.attrs.update({"stage": "shard", "format": SHARD_FORMAT, "classes": self.classes, "size": size,
                             "microexpr": __version__})
        log.info("shard %s: %d clips, %d samples at %dx%d", attrs.get("subject", ""), len(set(a["sample_id"])),
                 len(a["sample_id"]), size, size)
        return Path(out)


def shard_subject(flow_file: str | Path, manifest: pd.DataFrame, out: str | Path, *, classes: list[str],
                  size: int = _I.size, threshold: int = _I.threshold, max_magnitude: float | None = _I.max_magnitude,
                  global_motion: str = _I.global_motion, augment: bool = _I.augment, uvs_size: int = _I.uvs_size,
                  progress: bool = True) -> Path:
    """Stream images (x10 augmented) of one subject -> its shard.

    Datasets (N samples): ``flow`` N x S x S x 3 uint8 (BGR of the HSV flow image), ``gray``,
    ``masked`` and ``mask`` (0/255) N x S x S uint8, ``uvs`` N x U x U x 3 uint8 (u, v, strain; see
    :func:`microexpr.flow.uvs_image`), ``label`` (index into the ``classes`` attribute),
    ``sample_id``, ``aug`` (0 = the original; see :data:`microexpr.flow.AUGMENTATIONS`).
    """

    by_id = manifest.set_index("sample_id")
    images = ImageSettings(size, threshold, max_magnitude, global_motion, augment, uvs_size)
    writer = ShardWriter(classes, size)
    with h5py.File(flow_file, "r") as src:
        subject = str(src.attrs.get("subject", ""))
        attrs = {k: v for k, v in src.attrs.items() if k != "stage"}
        for name in _progress(sorted(src), f"shard {subject}", progress):
            g = src[name]
            sid = str(g.attrs["sample_id"])
            if sid not in by_id.index:
                raise DatasetError(f"{flow_file}: clip {sid} is not in the manifest")
            writer.add(sid, by_id.loc[sid, "label"], clip_streams(g["flow"][()], g["apex"][()], images))
    augs = augmentations(augment)
    return writer.write(out, {**attrs, "subject": subject, "threshold": threshold, "mask_channel": "hsv_value",
                              "max_magnitude": "per-image" if max_magnitude is None else max_magnitude,
                              "global_motion": global_motion, "uvs_size": uvs_size,
                              "augmentations": repr(list(augs))})


def flow_from_hsv_image(bgr: np.ndarray) -> np.ndarray:
    """Decode an HSV flow rendering (saved as BGR, hue = direction, value = magnitude) into a flow field
    (relative magnitudes: the rendering's scale is unknown)."""
    import cv2

    hsv = cv2.cvtColor(bgr[..., :3], cv2.COLOR_BGR2HSV).astype(np.float32)
    angle = np.deg2rad(hsv[..., 0] * 2.0)
    magnitude = hsv[..., 2] / 255.0
    return np.stack([magnitude * np.cos(angle), magnitude * np.sin(angle)], axis=-1).astype(np.float32)


def byo_shard_subject(manifest: pd.DataFrame, subject: str, out: str | Path, *, classes: list[str],
                      size: int = _I.size, threshold: int = _I.threshold, max_magnitude: float | None = _I.max_magnitude,
                      global_motion: str = _I.global_motion, augment: bool = _I.augment, uvs_size: int = _I.uvs_size,
                      flow_encoding: str = "hsv", flow_channels=None, flow_zero: float = 128,
                      flow_method: str = "tvl1", flow_params: dict | None = None, progress: bool = True) -> Path:
    """Shard of one subject of a bring-your-own manifest (:mod:`microexpr.datasets.byo`).

    ``flow_encoding``: ``hsv`` decodes given flow images as HSV renderings into flow fields, so flips
    and rotations turn the directions as for computed flow; ``image`` takes them as plain images
    (u/v/strain or other encodings; the mask is the brightest channel above ``threshold`` unless a mask
    is given): with ``flow_channels`` (e.g. ``["u", "v", "strain"]``, u and v stored as ``flow_zero`` +
    motion) augmentation turns the motion as for computed flow, without it mirrored samples are left out
    (see :func:`microexpr.clip.encoded_streams`). Samples with onset + apex get computed flow.
    """
    import cv2

    if flow_encoding not in ("hsv", "image"):
        raise DatasetError(f"flow_encoding must be 'hsv' or 'image', got {flow_encoding!r}")
    if flow_encoding == "image" and flow_channels is None and augment:
        log.warning("%s: image-encoded flows without dataset.flow_channels: mirrored samples left out (a mirror "
                    "cannot negate motion whose encoding is unknown); 5 of the 10 augmentations kept", subject)
    images = ImageSettings(size, threshold, max_magnitude, global_motion, augment, uvs_size)
    estimate = None
    writer = ShardWriter(classes, size)
    for row in _progress(_rows(manifest, subject).to_dict("records"), f"shard {subject}", progress):
        apex_full = read_frame(row["apex_path"], gray=True)
        given_mask = None
        if row.get("mask_path"):
            given_mask = cv2.resize(read_frame(row["mask_path"], gray=True), (size, size),
                                    interpolation=cv2.INTER_NEAREST)
        if row["entry"] == "flow" and flow_encoding == "image":
            full = read_frame(row["flow_path"])[..., :3]
            img = cv2.resize(full, (size, size), interpolation=cv2.INTER_AREA)
            apex = cv2.resize(apex_full, (size, size), interpolation=cv2.INTER_AREA)
            # channels as saved (OpenCV reads B, G, R): R, G, B = u, v, strain for u/v/strain images
            uvs_img = cv2.resize(np.ascontiguousarray(full[..., ::-1]), (uvs_size, uvs_size), interpolation=cv2.INTER_AREA)
            mask = given_mask if given_mask is not None else np.where(img.max(axis=2) > threshold, 255, 0)
            try:
                streams = encoded_streams(img, apex, mask.astype(np.uint8), uvs_img, augment, flow_channels, flow_zero)
            except ValueError as exc:
                raise DatasetError(f"{row['sample_id']}: {exc}") from None
            writer.add(row["sample_id"], row["label"], streams)
            continue
        if row["entry"] == "flow":  # an HSV rendering: its field decoded, the head's motion unknown
            streams = clip_streams(flow_from_hsv_image(read_frame(row["flow_path"])), apex_full,
                                   without_global_motion(images))
        else:
            onset_full = read_frame(row["onset_path"], gray=True)
            if onset_full.shape != apex_full.shape:
                raise DatasetError(f"{row['sample_id']}: onset {row['onset_path']} and apex {row['apex_path']} "
                                   "differ in size")
            estimate = estimate or make_flow_estimator(flow_method, **(flow_params or {}))
            streams = clip_streams(flow_field(onset_full, apex_full, estimate), apex_full, images)
        if given_mask is not None:
            for st, (flip, angle) in zip(streams, augmentations(augment)):
                m = transform_image(given_mask, flip=flip, angle=angle) > 127
                st.mask = np.where(m, 255, 0).astype(np.uint8)
                st.masked = np.where(m, st.gray, 0).astype(np.uint8)
        writer.add(row["sample_id"], row["label"], streams)
    return writer.write(out, {"subject": subject, "source": "bring-your-own manifest", "flow_encoding": flow_encoding,
                              "method": flow_method, "threshold": threshold, "global_motion": global_motion,
                              "augmentations": repr(list(augmentations(augment)))})


def run_shard(manifest: pd.DataFrame, subject: str, out: str | Path, *, classes: list[str], images: dict, byo: bool,
              flow_file: str | Path | None = None, flow_encoding: str = "hsv", flow_channels=None,
              flow_zero: float = 128, flow_method: str = "tvl1", flow_params: dict | None = None) -> Path:
    """The workflow's shard of one subject (``images``: the images section): from its flow file, or for a
    bring-your-own manifest (``byo``) from the files its rows name, with the dataset's flow encoding and
    the flow method for rows given as onset and apex frames."""
    if byo:
        return byo_shard_subject(manifest, subject, out, classes=classes, flow_encoding=flow_encoding,
                                 flow_channels=flow_channels, flow_zero=flow_zero, flow_method=flow_method,
                                 flow_params=flow_params, **images)
    return shard_subject(flow_file, manifest, out, classes=classes, **images)


def read_shard(path: str | Path, *, augmented: bool = False,
               streams: Iterable[str] = ("flow", "gray", "masked")) -> dict[str, np.ndarray]:
    """Load a shard. By default only the original samples (``aug == 0``): held-out subjects must be
    evaluated un-augmented; pass ``augmented=True`` for training data."""
    with h5py.File(path, "r") as h5:
        aug = h5["aug"][()]
        keep = np.ones_like(aug, bool) if augmented else aug == 0
        idx = np.flatnonzero(keep)
        missing = [s for s in streams if s not in h5]
        if missing:
            raise DatasetError(f"{path}: shard (format {h5.attrs.get('format', 1)}) has no stream(s) {missing}; "
                               f"made by an older microexpr: delete it and run the shard stage again")
        data = {s: h5[s][()][idx] for s in streams}
        data["label"] = h5["label"][()][idx]
        data["aug"] = aug[idx]
        data["sample_id"] = np.array([s.decode() if isinstance(s, bytes) else s for s in h5["sample_id"][()][idx]])
        data["classes"] = [str(c) for c in h5.attrs["classes"]]
        data["subject"] = str(h5.attrs["subject"])
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
