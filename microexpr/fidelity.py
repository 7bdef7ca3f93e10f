"""How well the pre-processing recovers a synthetic clip's known motion (no training needed).

For each clip of a flow file (rule ``flow``) of a synthetic dataset, compare the estimated onset->apex
flow, after the same global-motion removal as the stream images, with the generator's ground-truth
facial displacement (``ground_truth/<subject>/<clip>.npz``):

* ``iou``: overlap of the pipeline's mask (flow image value > threshold) with the region that truly
  moves (true displacement above ``region`` x its peak);
* ``cosine``: direction agreement inside that region (1 = same direction everywhere; magnification
  scales the flow, so only the direction is compared);
* ``contrast``: mean estimated flow magnitude inside the region over that outside it (how far the
  expression stands out of noise and jitter).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .datasets.synthetic import load_clip_ground_truth
from .flow import flow_mask, flow_to_hsv, remove_global_motion
from .sampleid import SampleId


def clip_fidelity(flow: np.ndarray, true_flow: np.ndarray, *, threshold: int = 50, region: float = 0.2,
                  global_motion: str = "median") -> dict[str, float]:
    flow = remove_global_motion(flow.astype(np.float32), global_motion)
    true_mag = np.linalg.norm(true_flow, axis=-1)
    moving = true_mag > region * true_mag.max() if true_mag.max() > 0 else np.zeros(true_mag.shape, bool)
    mask = flow_mask(flow_to_hsv(flow), threshold) > 0
    union = (mask | moving).sum()
    mag = np.linalg.norm(flow, axis=-1)
    dot = (flow * true_flow).sum(-1)
    cos = dot[moving] / np.maximum(mag[moving] * true_mag[moving], 1e-9)
    outside = mag[~moving].mean() if (~moving).any() else np.nan
    return {
        "iou": float((mask & moving).sum() / union) if union else np.nan,
        "cosine": float(np.average(cos, weights=true_mag[moving])) if moving.any() else np.nan,
        "contrast": float(mag[moving].mean() / max(outside, 1e-9)) if moving.any() else np.nan,
    }


def flow_file_fidelity(flow_file: str | Path, synthetic_root: str | Path, **kw) -> pd.DataFrame:
    """One row per clip of a flow file: its sample id and :func:`clip_fidelity`."""
    rows = []
    with h5py.File(flow_file, "r") as h5:
        for name in sorted(h5):
            g = h5[name]
            sample_id = str(g.attrs["sample_id"])
            sid = SampleId.parse(sample_id)  # the subject and clip as the dataset names them
            truth = load_clip_ground_truth(synthetic_root, sid.subject, sid.clip)["face_flow"]
            rows.append({"sample_id": sample_id, **clip_fidelity(g["flow"][()], truth, **kw)})
    return pd.DataFrame(rows)
