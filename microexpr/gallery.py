"""The report's gallery: the most confident mistakes and the most confident correct clip of each class,
each with its onset, flow image, apex, mask and masked apex thumbnails and its action units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import MicroexprError
from .pages import image_data_uri


def _resized(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    img = np.clip(img, 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img
    return cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _onsets(rows: pd.DataFrame, flows: list[str | Path] | None) -> dict[str, np.ndarray]:
    """The magnified onset frame of each clip of ``rows`` (by sample id), from its subject's flow file."""
    import h5py

    wanted, found = set(rows.sample_id), {}
    for path in flows or []:
        with h5py.File(path, "r") as h5:
            for g in h5.values():
                sid = str(g.attrs.get("sample_id", ""))
                if sid in wanted:
                    found[sid] = g["onset"][()]
    return found


def _with_images(rows: pd.DataFrame, shards: list[str | Path], aus: dict, alt: str,
                 flows: list[str | Path] | None = None) -> list[dict]:
    """Gallery entries of prediction rows: each clip's onset (from ``flows``, where given), flow image,
    apex, mask and masked apex thumbnails from the un-augmented samples of its subject's shard, true and
    predicted class with both probabilities."""
    import h5py

    from .preprocess import read_shard

    by_subject = {}
    for path in shards:
        with h5py.File(path, "r") as h5:
            by_subject[str(h5.attrs["subject"])] = path
    onsets = _onsets(rows, flows)
    cache, out = {}, []
    for row in rows.itertuples():
        path = by_subject.get(str(row.subject))
        images = {}
        if path is not None:
            if path not in cache:
                try:
                    cache[path] = read_shard(path, streams=("flow", "gray", "mask", "masked"))
                except MicroexprError:  # a shard without the mask streams: the other two
                    cache[path] = read_shard(path, streams=("flow", "gray"))
            shard = cache[path]
            hit = np.flatnonzero(shard["sample_id"] == row.sample_id)
            if len(hit):
                size = shard["gray"].shape[1:3]
                onset = onsets.get(row.sample_id)
                images = {"flow": image_data_uri(shard["flow"][hit[0]], 104),
                          "apex": image_data_uri(shard["gray"][hit[0]], 104),
                          "mask": image_data_uri(shard["mask"][hit[0]], 104) if "mask" in shard else None,
                          "masked": image_data_uri(shard["masked"][hit[0]], 104) if "masked" in shard else None,
                          # resized as the apex was (clip_streams), so onset and apex compare at a glance
                          "onset": image_data_uri(_resized(onset, size), 104) if onset is not None else None}
        out.append({"sample_id": row.sample_id, "fold": row.fold, "label": row.label, "pred": row.pred,
                    "p_pred": float(getattr(row, f"p_{row.pred}")), "p_true": float(getattr(row, f"p_{row.label}")),
                    "action_units": "+".join(aus.get(row.sample_id, [])), "alt": alt, **images})
    return out


def _action_units(manifest: str | Path | None) -> dict:
    from .datasets.manifest import action_units, read_manifest

    if manifest is None:
        return {}
    table = read_manifest(manifest)
    if "action_units" not in table.columns:
        return {}
    return {sid: action_units(cell) for sid, cell in zip(table.sample_id, table.action_units)}


def _predictions(fold_predictions: list[str | Path]) -> pd.DataFrame:
    preds = pd.concat([pd.read_csv(p, dtype={"subject": str, "fold": str}) for p in fold_predictions],
                      ignore_index=True)
    preds["p_pred"] = [row[f"p_{row.pred}"] for _, row in preds.iterrows()]
    return preds


def misclassified(fold_predictions: list[str | Path], shards: list[str | Path], limit: int = 24,
                  manifest: str | Path | None = None, flows: list[str | Path] | None = None) -> list[dict]:
    """The most confident mistakes (up to ``limit``), each with its flow image, apex and masked apex
    thumbnails from the un-augmented samples of its subject's shard (with the subjects' flow files
    ``flows``, its magnified onset frame too; with the run's ``manifest``, the action units its coding
    sheet gives)."""
    preds = _predictions(fold_predictions)
    wrong = preds[preds.label != preds.pred].sort_values("p_pred", ascending=False).head(limit)
    return _with_images(wrong, shards, _action_units(manifest), "flow image", flows) if len(wrong) else []


def correct_examples(fold_predictions: list[str | Path], shards: list[str | Path],
                     manifest: str | Path | None = None, flows: list[str | Path] | None = None) -> list[dict]:
    """The most confident correct clip of each class (classes never predicted right have none), as
    :func:`misclassified` shows them."""
    preds = _predictions(fold_predictions)
    right = preds[preds.label == preds.pred].sort_values("p_pred", ascending=False).drop_duplicates("label")
    right = right.sort_values("label")
    return _with_images(right, shards, _action_units(manifest), "flow image (correct)", flows) if len(right) else []
