"""Hand-crafted baselines: LBP-TOP, LBP-SIP and HOOF features, each followed by a linear SVM.

These are the methods the MSCNN paper compares against (its Tables II and III), and the datasets'
own baselines (CASME II and SAMM report LBP-TOP + SVM). They run through the same LOSO as the deep
models: ``train.model: lbptop`` (or ``lbpsip``, ``hoof``) trains the SVM on the fold's training
subjects, its C chosen by a subject-wise inner cross-validation on those subjects only, and tests once
on the held-out subject.

* **LBP-TOP** (Zhao and Pietikäinen, TPAMI 2007): uniform LBP codes on the XY, XT and YT planes of the
  onset..offset block, one histogram per plane and face block, concatenated. Neighbours are sampled
  on an ellipse with the nearest pixel (``floor(x + 0.5)``, as in the authors' MATLAB code and its
  Python port in the meb toolkit). Defaults ``LBP-TOP_{8,8,8,3,3,3}`` on 8 x 8 blocks: the values of
  meb's ``calculate_lbptop`` (11,328 values; its blocks overlap by 70 %, here they do not). The block
  is first resampled to 10 frames, the length of the TIM10 baselines (Pfister et al. 2011); meb
  resamples only when asked.
* **LBP-SIP** (Wang et al., ACCV 2014 workshops, "LBP with six intersection points"): of the
  neighbours LBP-TOP compares, only the six where its three planes intersect: four in the frame (left,
  right, up, down at ``radius``) and the same pixel in the previous and next frame. Per block a
  16-bin histogram of the spatial 4-bit code and a 4-bin one of the temporal 2-bit code (20 values
  against LBP-TOP's 3 x 59).
* **HOOF** (Chaudhry et al., CVPR 2009): the onset -> apex flow's vectors binned by direction, each
  weighted by its magnitude, mirror-symmetric about the vertical axis (a vector and its left-right
  mirror fall in one bin: bin ``b`` of ``B`` holds angles ``-pi/2 + pi b / B .. -pi/2 + pi (b + 1) / B``
  after mirroring), normalised to sum 1, per face block. Chaudhry et al. use 30 bins for a whole frame;
  the default here is 8 per block. The median vector (head translation) is subtracted first.

Time interpolation (``frames``) is linear between neighbouring frames (not the graph-embedding TIM of
Zhou et al., which meb ports): LBP codes need a block of a fixed length only for comparable XT / YT
statistics, and the histograms are normalised per block.

The SVM is scikit-learn's ``LinearSVC`` on standardised features (``StandardScaler``). It gives no
probabilities: a fold's ``p_<class>`` columns are the softmax of its decision values (scores that rank
the classes, not calibrated probabilities). A fitted model is a few arrays (scaler mean and scale,
coefficients, intercepts), saved as tensors: a model file stays data.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .errors import MicroexprError

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

log = logging.getLogger(__name__)
FEATURES_FORMAT = 1


# ---------------------------------------------------------------- settings (the only place their defaults are written)

@dataclass(frozen=True)
class LBPTopSettings:
    radii: tuple[int, int, int] = (3, 3, 3)   # R_X, R_Y, R_T (meb's calculate_lbptop; Zhao and Pietikäinen's faces)
    points: int = 8                           # neighbours per plane (uniform codes: points * (points - 1) + 3 bins)
    grid: tuple[int, int] = (8, 8)            # face blocks, rows x columns (meb: 8 x 8)
    frames: int | None = 10                   # resample the block to this many frames (TIM10's length); None: as recorded


@dataclass(frozen=True)
class LBPSipSettings:
    radius: int = 1                           # spatial distance of the four in-frame neighbours
    grid: tuple[int, int] = (8, 8)            # face blocks (as LBP-TOP's, so the two compare like for like)
    frames: int | None = 10


@dataclass(frozen=True)
class HOOFSettings:
    bins: int = 8                             # direction bins per block (Chaudhry et al.: 30 for a whole frame)
    grid: tuple[int, int] = (8, 8)
    global_motion: str = "median"             # median: subtract the head's translation first; none


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    settings: type
    extract: Callable[..., np.ndarray]        # (block T x H x W uint8, flow H x W x 2, **settings) -> 1-D features
    source: str = field(default="")


def _typed(cls, values: dict | None, section: str = "features"):
    from .config import typed_section

    values = {k: tuple(v) if isinstance(v, list) else v for k, v in (values or {}).items()}
    return typed_section(cls, values, section)


# ---------------------------------------------------------------- the extractors

def time_interpolate(block: np.ndarray, frames: int | None) -> np.ndarray:
    """``block`` (T x H x W) resampled linearly to ``frames`` frames (float32); unchanged when None."""
    block = np.asarray(block, np.float32)
    if frames is None or len(block) == frames:
        return block
    if frames < 2:
        raise MicroexprError(f"features: frames must be at least 2 (or null), got {frames}")
    if len(block) == 1:
        return np.repeat(block, frames, axis=0)
    pos = np.linspace(0, len(block) - 1, frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(block) - 1)
    w = (pos - lo).astype(np.float32)[:, None, None]
    return block[lo] + w * (block[hi] - block[lo])  # exact where neighbours are equal


def uniform_table(points: int) -> np.ndarray:
    """code -> bin of the uniform ("u2") mapping: each pattern with at most two 0/1 transitions
    (circularly) its own bin, in increasing code order; every other pattern the last bin."""
    table = np.empty(2 ** points, np.int64)
    n_uniform = points * (points - 1) + 2
    k = 0
    for code in range(2 ** points):
        rotated = ((code << 1) | (code >> (points - 1))) & (2 ** points - 1)
        if bin(code ^ rotated).count("1") <= 2:
            table[code] = k
            k += 1
        else:
            table[code] = n_uniform
    assert k == n_uniform
    return table


def _block_index(shape: tuple[int, int], margin: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Block number (row-major) of each centre pixel of an H x W frame, ``margin`` (y, x) pixels in
    from each side; blocks split the whole frame."""
    (h, w), (my, mx), (rows, cols) = shape, margin, grid
    ys = np.arange(my, h - my) * rows // h
    xs = np.arange(mx, w - mx) * cols // w
    return (ys[:, None] * cols + xs[None, :]).astype(np.int64)


def _histograms(codes: np.ndarray, blocks: np.ndarray, n_blocks: int, n_bins: int) -> np.ndarray:
    """Per block, the histogram (normalised to sum 1) of ``codes`` (T' x H' x W' bins) over its pixels
    and frames; a block with no pixel gets zeros."""
    flat = (np.broadcast_to(blocks, codes.shape) * n_bins + codes).ravel()
    hist = np.bincount(flat, minlength=n_blocks * n_bins).reshape(n_blocks, n_bins).astype(np.float64)
    total = hist.sum(axis=1, keepdims=True)
    return np.divide(hist, total, out=np.zeros_like(hist), where=total > 0)


def _check_size(block: np.ndarray, need: tuple[int, int, int], what: str) -> None:
    t, h, w = block.shape
    if t < need[0] or h < need[1] or w < need[2]:
        raise MicroexprError(f"{what}: a block of {t} frames of {w}x{h} is too small (needs at least {need[0]} "
                             f"frames of {need[2]}x{need[1]})")


def _codes(v: np.ndarray, offsets: list[tuple[int, int, int]], margin: tuple[int, int, int]) -> np.ndarray:
    """LBP codes of the centre pixels (``margin`` (t, y, x) in from each side): bit p is set where the
    neighbour at ``offsets[p]`` (dt, dy, dx) is at least the centre."""
    mt, my, mx = margin
    t, h, w = v.shape
    centre = v[mt:t - mt, my:h - my, mx:w - mx]
    code = np.zeros(centre.shape, np.int64)
    for p, (dt, dy, dx) in enumerate(offsets):
        neighbour = v[mt + dt:t - mt + dt, my + dy:h - my + dy, mx + dx:w - mx + dx]
        code |= (neighbour >= centre).astype(np.int64) << p
    return code


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def lbp_top(block: np.ndarray, flow: np.ndarray | None = None, *, radii=LBPTopSettings.radii,
            points: int = LBPTopSettings.points, grid=LBPTopSettings.grid,
            frames: int | None = LBPTopSettings.frames) -> np.ndarray:
    """LBP-TOP of a T x H x W gray block: for each block (row-major) the XY, XT and YT histograms of
    uniform codes, ``grid[0] * grid[1] * 3 * (points * (points - 1) + 3)`` values."""
    rx, ry, rt = (int(r) for r in radii)
    v = time_interpolate(block, frames)
    _check_size(v, (2 * rt + 1, 2 * ry + 1, 2 * rx + 1), "LBP-TOP")
    angles = [2 * np.pi * p / points for p in range(points)]
    planes = {  # (dt, dy, dx) of each neighbour
        "xy": [(0, -_round(ry * np.sin(a)), _round(rx * np.cos(a))) for a in angles],
        "xt": [(-_round(rt * np.sin(a)), 0, _round(rx * np.cos(a))) for a in angles],
        "yt": [(-_round(rt * np.sin(a)), -_round(ry * np.cos(a)), 0) for a in angles],
    }
    table = uniform_table(points)
    n_bins = int(table.max()) + 1
    n_blocks = int(grid[0]) * int(grid[1])
    blocks = _block_index(v.shape[1:], (ry, rx), (int(grid[0]), int(grid[1])))
    hists = [_histograms(table[_codes(v, planes[p], (rt, ry, rx))], blocks, n_blocks, n_bins) for p in ("xy", "xt", "yt")]
    return np.stack(hists, axis=1).ravel().astype(np.float32)  # block, plane, bin


def lbp_sip(block: np.ndarray, flow: np.ndarray | None = None, *, radius: int = LBPSipSettings.radius,
            grid=LBPSipSettings.grid, frames: int | None = LBPSipSettings.frames) -> np.ndarray:
    """LBP-SIP of a T x H x W gray block: per block (row-major) the 16-bin histogram of the four
    in-frame neighbours' code and the 4-bin one of the two temporal neighbours' code (20 values)."""
    r = int(radius)
    v = time_interpolate(block, frames)
    _check_size(v, (3, 2 * r + 1, 2 * r + 1), "LBP-SIP")
    n_blocks = int(grid[0]) * int(grid[1])
    blocks = _block_index(v.shape[1:], (r, r), (int(grid[0]), int(grid[1])))
    spatial = _codes(v, [(0, 0, r), (0, -r, 0), (0, 0, -r), (0, r, 0)], (1, r, r))
    temporal = _codes(v, [(-1, 0, 0), (1, 0, 0)], (1, r, r))
    hists = np.concatenate([_histograms(spatial, blocks, n_blocks, 16), _histograms(temporal, blocks, n_blocks, 4)], axis=1)
    return hists.ravel().astype(np.float32)


def hoof(block: np.ndarray | None, flow: np.ndarray, *, bins: int = HOOFSettings.bins, grid=HOOFSettings.grid,
         global_motion: str = HOOFSettings.global_motion) -> np.ndarray:
    """HOOF of an H x W x 2 flow field: per block (row-major) the magnitude-weighted, mirror-symmetric
    histogram of directions (``bins`` values, summing to 1; zeros for a block without motion)."""
    from .flow import remove_global_motion

    if global_motion not in ("median", "none"):
        raise MicroexprError(f"features.hoof.global_motion must be median or none, got {global_motion!r}")
    flow = remove_global_motion(np.asarray(flow, np.float32), global_motion)
    u, v = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(u, v)
    theta = np.arctan2(v, np.abs(u))  # mirrored into [-pi/2, pi/2]
    b = np.clip(np.floor((theta + np.pi / 2) / np.pi * bins).astype(np.int64), 0, bins - 1)
    rows, cols = int(grid[0]), int(grid[1])
    blocks = _block_index(u.shape, (0, 0), (rows, cols))
    hist = np.bincount((blocks * bins + b).ravel(), weights=magnitude.ravel(),
                       minlength=rows * cols * bins).reshape(rows * cols, bins)
    total = hist.sum(axis=1, keepdims=True)
    return np.divide(hist, total, out=np.zeros_like(hist), where=total > 0).ravel().astype(np.float32)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("lbptop", "LBP-TOP + linear SVM", LBPTopSettings, lbp_top, "Zhao and Pietikäinen, TPAMI 2007"),
    Method("lbpsip", "LBP-SIP + linear SVM", LBPSipSettings, lbp_sip, "Wang et al., ACCV 2014 workshops"),
    Method("hoof", "HOOF + linear SVM", HOOFSettings, hoof, "Chaudhry et al., CVPR 2009"),
)}


def is_handcrafted(model: str | None) -> bool:
    return model in METHODS


def method_settings(method: str, features: dict | None) -> dict:
    """The settings of ``method`` (the config's ``features.<method>`` on top of its defaults), plain."""
    if method not in METHODS:
        raise MicroexprError(f"unknown hand-crafted method {method!r}; known: {', '.join(METHODS)}")
    s = asdict(_typed(METHODS[method].settings, (features or {}).get(method), f"features.{method}"))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()}


def clip_features(method: str, block: np.ndarray, flow: np.ndarray, settings: dict | None = None) -> np.ndarray:
    """The features of one clip: its onset..offset gray block (T x H x W) and onset -> apex flow."""
    m = METHODS[method]
    return m.extract(block, flow, **asdict(_typed(m.settings, settings, f"features.{method}")))


# ---------------------------------------------------------------- the stage: one subject's features

def features_subject(magnified: str | Path, flows: str | Path, manifest, out: str | Path, *, method: str,
                     settings: dict | None, classes: list[str], progress: bool = True) -> Path:
    """Features of every clip of one subject (the magnified onset..offset frames and the flow file
    of the pre-processing stages) -> ``out`` (HDF5: ``features`` N x D, ``label``, ``sample_id``)."""
    import h5py

    from .errors import DatasetError
    from .io import atomic_path
    from .preprocess import _progress

    settings = method_settings(method, {method: settings or {}})
    by_id = manifest.set_index("sample_id")
    rows, t0 = [], time.perf_counter()
    with h5py.File(magnified, "r") as mag, h5py.File(flows, "r") as fl:
        subject = str(mag.attrs.get("subject", ""))
        for name in _progress(sorted(mag), f"{method} {subject}", progress):
            g = mag[name]
            sid = str(g.attrs["sample_id"])
            if sid not in by_id.index:
                raise DatasetError(f"{magnified}: clip {sid} is not in the manifest")
            if name not in fl:
                raise DatasetError(f"{flows}: clip {sid} has no flow (the flow file is not of this magnified file)")
            numbers = list(g["frame_numbers"][()])
            lo, hi = numbers.index(int(g.attrs["onset"])), numbers.index(int(g.attrs["offset"]))
            label = by_id.loc[sid, "label"]
            if label not in classes:
                raise DatasetError(f"{sid}: label {label!r} is not one of the classes {classes}")
            try:
                x = clip_features(method, g["frames"][lo:hi + 1], fl[name]["flow"][()], settings)
            except MicroexprError as exc:
                raise DatasetError(f"{sid}: {exc}") from None
            rows.append((sid, classes.index(label), x))
    if not rows:
        raise DatasetError(f"{magnified}: no clips to describe")
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("features", data=np.stack([r[2] for r in rows]).astype(np.float32))
        h5.create_dataset("label", data=np.array([r[1] for r in rows], np.int64))
        h5.create_dataset("sample_id", data=np.array([r[0] for r in rows], dtype=object), dtype=h5py.string_dtype())
        h5.attrs.update({"stage": "features", "format": FEATURES_FORMAT, "subject": subject, "method": method,
                         "settings": json.dumps(settings, sort_keys=True), "classes": list(classes),
                         "microexpr": __version__})
    log.info("%s %s: %d clips, %d values each, in %.1f s", method, subject, len(rows), rows[0][2].size,
             time.perf_counter() - t0)
    return Path(out)


def read_features(paths) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], str]:
    """(features, labels, sample ids, subjects per clip, classes, method) of several subjects' files;
    refuses files of different classes, methods or settings."""
    import h5py

    xs, ys, ids, subjects, seen = [], [], [], [], None
    for path in paths:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("stage") != "features":
                raise MicroexprError(f"{path}: not a features file")
            key = (list(h5.attrs["classes"]), str(h5.attrs["method"]), str(h5.attrs["settings"]))
            if seen is not None and key != seen:
                raise MicroexprError(f"{path}: classes, method or settings differ from {paths[0]}")
            seen = key
            xs.append(h5["features"][()])
            ys.append(h5["label"][()])
            sid = h5["sample_id"].asstr()[()]
            ids.append(sid)
            subjects.append(np.full(len(sid), str(h5.attrs["subject"]), dtype=object))
    if seen is None:
        raise MicroexprError("no features files given")
    return (np.concatenate(xs), np.concatenate(ys), np.concatenate(ids), np.concatenate(subjects), [str(c) for c in seen[0]],
            seen[1])
