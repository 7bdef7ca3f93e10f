"""A fold's samples in memory, and how they become the models' inputs (shared with ``microexpr predict``)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import FoldError
from ..metrics import scores
from ..preprocess import read_shard
from ..streams import STREAMS, channels_first


class ArrayData:
    """Samples of several shards in memory as uint8 tensors (N x C x S x S per stream)."""

    def __init__(self, parts: list[dict], streams: tuple[str, ...], input_scale: str = "standard"):
        self.streams, self.input_scale = streams, input_scale
        self.x = {s: torch.from_numpy(np.ascontiguousarray(channels_first(s, np.concatenate([p[s] for p in parts]))))
                  for s in streams}
        self.y = torch.from_numpy(np.concatenate([p["label"] for p in parts]).astype(np.int64))
        self.ids = np.concatenate([p["sample_id"] for p in parts])
        self.subjects = np.concatenate([np.full(len(p["sample_id"]), p["subject"], dtype=object) for p in parts])
        self.aug = np.concatenate([p["aug"] for p in parts])

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> "ArrayData":
        out = copy.copy(self)
        idx = torch.from_numpy(np.flatnonzero(mask))
        out.x = {s: v[idx] for s, v in self.x.items()}
        out.y, out.ids, out.subjects, out.aug = self.y[idx], self.ids[mask], self.subjects[mask], self.aug[mask]
        return out

    def to(self, device: torch.device) -> "ArrayData":
        """The samples (uint8) moved to ``device`` once, so batches need no host-to-GPU copy."""
        out = copy.copy(self)
        out.x = {s: v.to(device) for s, v in self.x.items()}
        out.y = self.y.to(device)
        return out

    def batch(self, idx: torch.Tensor, device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Samples ``idx`` as the models' inputs (see :func:`normalise`) and their labels."""
        idx = idx.to(self.y.device)
        inputs = normalise({s: self.x[s][idx] for s in self.streams}, device, self.input_scale)
        return inputs, self.y[idx].to(device)


_NORM: dict = {}


def normalise(images: dict[str, torch.Tensor], device: torch.device, input_scale: str = "standard") -> dict:
    """uint8 N x C x S x S images of each stream -> float inputs on ``device``: ``(x / 255 - mean) / std``
    as one multiply-add (with ``input_scale`` raw: the 0-255 values as floats, as some released codes
    feed their images), each stream's mean and std as registered (:mod:`microexpr.streams`). Channels-last
    on CUDA, where convolutions under AMP run faster on it."""
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    inputs = {}
    for s, x in images.items():
        key = (s, str(device), input_scale)
        if key not in _NORM:
            raw = input_scale == "raw"
            mean, std = STREAMS[s].mean, STREAMS[s].std
            _NORM[key] = (torch.tensor([1.0 if raw else 1 / (255 * d) for d in std], device=device).view(1, -1, 1, 1),
                          torch.tensor([0.0 if raw else -m / d for m, d in zip(mean, std)],
                                       device=device).view(1, -1, 1, 1))
        scale, shift = _NORM[key]
        inputs[s] = torch.addcmul(shift, x.to(device, non_blocking=True).float(), scale).contiguous(memory_format=fmt)
    return inputs


def load_shards(paths: list[str | Path], streams: tuple[str, ...], *, augmented: bool,
                input_scale: str = "standard") -> tuple[ArrayData, list[str], list[str]]:
    """The shards' samples (all augmentations with ``augmented``, else the originals), their subjects
    and classes (the same in every shard, or :class:`FoldError`)."""
    parts, subjects, classes = [], [], None
    for p in paths:
        d = read_shard(p, augmented=augmented, streams=streams)
        if classes is None:
            classes = d["classes"]
        elif d["classes"] != classes:
            raise FoldError(f"{p}: classes {d['classes']} differ from {classes} of the other shards")
        subjects.append(d["subject"])
        parts.append(d)
    return ArrayData(parts, streams, input_scale), subjects, classes


@torch.no_grad()
def class_probabilities(model: nn.Module, data: ArrayData, device: torch.device, batch_size: int = 128) -> np.ndarray:
    """The model's softmax over ``data``, N x classes (in eval mode, batch by batch)."""
    model.eval()
    out = []
    for i in range(0, len(data), batch_size):
        inputs, _ = data.batch(torch.arange(i, min(i + batch_size, len(data))), device)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            out.append(torch.softmax(model(inputs).float(), dim=1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def evaluate(model, data: ArrayData, device, n_classes: int) -> dict:
    """Loss (negative log-likelihood of the softmax), accuracy and UF1 of ``model`` on ``data``."""
    if len(data) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "uf1": float("nan")}
    probs = class_probabilities(model, data, device)
    y_t = data.y.cpu()
    loss = float(nn.functional.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-12)), y_t).item())
    s = scores(y_t.numpy(), probs.argmax(1), n_classes, all_classes=False)
    return {"loss": loss, "accuracy": s["accuracy"], "uf1": s["uf1"]}
