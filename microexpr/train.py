"""Training and evaluation of one LOSO fold: the model never sees the held-out subject before testing.

* Training data: the augmented samples of the training subjects' shards, except the validation clips.
* Validation (early stopping): a stratified share of the training subjects' *clips* (all their
  augmentations leave the training set; validation uses the originals). Never the held-out subject.
* Test: the held-out subject's original (un-augmented) samples, evaluated once, with the weights of
  the best validation epoch.

Checkpoints (every epoch, atomic) carry model, optimizer, epoch, history, RNG states and the config;
:func:`train_fold` resumes from one left by a killed run with the same config.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from . import __version__, handcrafted, optim
from .errors import MicroexprError
from .handcrafted import is_handcrafted
from .io import atomic_path
from .metrics import scores
from .models import create_fold_model, model_settings, model_streams
from .preprocess import read_shard
from .recipes import recipe_report
from .train_settings import TrainConfig, choose_candidates, ensemble_members
from .sampleid import SampleId

log = logging.getLogger(__name__)

# Normalisation: ImageNet statistics (the flow image is fed as RGB, so ImageNet weights fit).
# uvs: u and v are centred at mid-gray by construction, strain is skewed towards 0.
_MEAN = {"flow": (0.485, 0.456, 0.406), "gray": (0.449,), "masked": (0.449,), "uvs": (0.5, 0.5, 0.15)}
_STD = {"flow": (0.229, 0.224, 0.225), "gray": (0.226,), "masked": (0.226,), "uvs": (0.2, 0.2, 0.2)}


class FoldError(MicroexprError):
    """A fold's inputs are inconsistent (e.g. the held-out subject among the training shards)."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def processor_name(device: torch.device) -> str:
    """What ran the arithmetic, as results record it: the GPU's name, or the CPU's model and the vector
    instructions torch used (float rounding, so a run's last digits, differ between AVX2 and AVX512)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model} ({torch.backends.cpu.get_cpu_capability()})"


class ArrayData:
    """Samples of several shards in memory as uint8 tensors (N x C x S x S per stream)."""

    def __init__(self, parts: list[dict], streams: tuple[str, ...], input_scale: str = "standard"):
        self.streams, self.input_scale = streams, input_scale
        self.x = {}
        for s in streams:
            arr = np.concatenate([p[s] for p in parts])
            if arr.ndim == 3:
                arr = arr[:, None]
            elif s == "flow":  # BGR (OpenCV) -> RGB, channels first
                arr = arr[..., ::-1].transpose(0, 3, 1, 2)
            else:  # uvs: u, v, strain, channels first
                arr = arr.transpose(0, 3, 1, 2)
            self.x[s] = torch.from_numpy(np.ascontiguousarray(arr))
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
        """uint8 -> float, scaled and normalised: ``(x / 255 - mean) / std`` as one multiply-add (with
        ``input_scale`` raw: the 0-255 values as floats, as some released codes feed their images)."""
        idx = idx.to(self.y.device)
        key = str(device)
        if getattr(self, "_norm_device", None) != key:
            raw = self.input_scale == "raw"
            self._norm = {s: (torch.tensor([1.0 if raw else 1 / (255 * d) for d in _STD[s]], device=device).view(1, -1, 1, 1),
                              torch.tensor([0.0 if raw else -m / d for m, d in zip(_MEAN[s], _STD[s])],
                                           device=device).view(1, -1, 1, 1))
                          for s in self.streams}
            self._norm_device = key
        inputs = {}
        fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        for s in self.streams:
            scale, shift = self._norm[s]
            x = torch.addcmul(shift, self.x[s][idx].to(device, non_blocking=True).float(), scale)
            inputs[s] = x.contiguous(memory_format=fmt)
        return inputs, self.y[idx].to(device)


def load_shards(paths: list[str | Path], streams: tuple[str, ...], *, augmented: bool,
                input_scale: str = "standard") -> tuple[ArrayData, list[str], list[str]]:
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


def validation_clips(ids: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> set[str]:
    """A stratified random share of the clips (at least one per class that has two or more clips)."""
    rng = np.random.default_rng(seed)
    clips = pd.DataFrame({"id": ids, "label": labels}).drop_duplicates("id")
    chosen = set()
    for _, group in clips.groupby("label"):
        n = len(group)
        k = min(n - 1, max(1, int(round(fraction * n)))) if n >= 2 else 0
        chosen.update(rng.choice(group["id"].to_numpy(), size=k, replace=False).tolist())
    return chosen


@torch.no_grad()
def predict(model: nn.Module, data: ArrayData, device: torch.device, batch_size: int = 128) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(data), batch_size):
        inputs, _ = data.batch(torch.arange(i, min(i + batch_size, len(data))), device)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            out.append(torch.softmax(model(inputs).float(), dim=1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def _evaluate(model, data, device, n_classes) -> dict:
    if len(data) == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "uf1": float("nan")}
    probs = predict(model, data, device)
    y_t = data.y.cpu()
    y = y_t.numpy()
    loss = float(nn.functional.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-12)), y_t).item())
    s = scores(y, probs.argmax(1), n_classes, all_classes=False)
    return {"loss": loss, "accuracy": s["accuracy"], "uf1": s["uf1"]}


def train_epoch(model: nn.Module, opt, scaler, train: ArrayData, batch_size: int, gen: torch.Generator,
                device: torch.device, label_smoothing: float = 0.0) -> tuple[float, int, float]:
    """One pass over ``train`` in a random order; returns (summed loss, samples seen, seconds)."""
    model.train()
    t0 = time.perf_counter()
    order = torch.randperm(len(train), generator=gen)
    total, seen = 0.0, 0
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        if len(idx) < 2:  # BatchNorm needs two samples
            continue
        inputs, labels = train.batch(idx, device)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=scaler.is_enabled()):
            logits, targets = model.forward_train(inputs, labels, gen)
            loss = nn.functional.cross_entropy(logits.float(), targets, label_smoothing=label_smoothing)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        total += float(loss.detach()) * len(idx)
        seen += len(idx)
    return total, seen, time.perf_counter() - t0


def _settings(cfg: TrainConfig, n_classes: int, uvs_size: int | None = None) -> dict:
    settings = {**asdict(cfg), "num_classes": n_classes, "streams": cfg.streams}
    if uvs_size:
        settings["uvs_size"] = uvs_size
    return settings


def build_model(cfg: TrainConfig, n_classes: int, uvs_size: int | None = None) -> nn.Module:
    """The configured model (``cfg.model``), each constructor given the settings it takes (its own
    defaults where a setting is not given: :func:`microexpr.models.model_settings`)."""
    return create_fold_model(cfg.model, **_settings(cfg, n_classes, uvs_size))


def data_streams(cfg: TrainConfig) -> tuple[str, ...]:
    """The shard streams the configured model reads."""
    return model_streams(cfg.model, cfg.streams)


def _model_and_optimizer(cfg: TrainConfig, n_classes: int, device: torch.device, uvs_size: int | None = None):
    model = build_model(cfg, n_classes, uvs_size).to(device)
    if device.type == "cuda":  # convolutions under AMP run faster on NHWC tensors
        model = model.to(memory_format=torch.channels_last)
    # torch.optim's SGD and Adam without torch.optim.Optimizer, whose first step imports torch._dynamo (about
    # 2 s a job on 2 cores; microexpr/optim.py)
    if cfg.optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.amp)
    return model, opt, scaler


def lr_factor(cfg: TrainConfig, epoch: int, epochs: int | None = None) -> float:
    """The learning rate of ``epoch`` as a share of ``cfg.lr``: linear warm-up, then constant or cosine
    to 0 at ``epochs`` (default ``cfg.max_epochs``)."""
    epochs = epochs or cfg.max_epochs
    if epoch < cfg.warmup_epochs:
        return (epoch + 1) / (cfg.warmup_epochs + 1)
    if cfg.schedule == "cosine":
        span = max(1, epochs - cfg.warmup_epochs)
        return 0.5 * (1 + math.cos(math.pi * (epoch - cfg.warmup_epochs) / span))
    return 1.0


def _uvs_size(data: ArrayData) -> int | None:
    return int(data.x["uvs"].shape[-1]) if "uvs" in data.x else None


def final_plan(cfg: TrainConfig, fold_metrics: list[dict]) -> tuple[TrainConfig, int | list[int]]:
    """What the final model trains and for how many epochs: the run's settings (an ensemble: each
    member's epochs); with ``choose``, the candidate the folds picked most often (ties: the first
    listed), for the median epoch of the folds that picked it. Each pick was made on a fold's training
    subjects only."""
    if is_handcrafted(cfg.model):  # an SVM has no epochs: its C is chosen again over every subject
        return cfg, 0
    if not cfg.choose:
        return cfg, final_epochs(fold_metrics)
    picks = [f["choose"]["picked"] for f in fold_metrics]
    pick = max(range(1, len(cfg.choose) + 1), key=lambda c: (picks.count(c), -c))
    chosen = [f for f in fold_metrics if f["choose"]["picked"] == pick]
    log.info("final model: candidate %d (picked in %d of %d folds)", pick, len(chosen), len(fold_metrics))
    return TrainConfig(**choose_candidates(asdict(cfg))[pick - 1]), final_epochs(chosen)


def final_epochs(fold_metrics: list[dict]) -> int | list[int]:
    """Epochs for the model trained on every subject: the median of the folds' chosen epochs (each
    chosen on training subjects only), counted from 1; for an ensemble, one such count per member.
    No test subject decides it."""
    if fold_metrics and fold_metrics[0].get("ensemble"):
        n = len(fold_metrics[0]["ensemble"]["members"])
        return [int(np.median([f["ensemble"]["members"][j]["best_epoch"] for f in fold_metrics])) + 1
                for j in range(n)]
    return int(np.median([f["best_epoch"] for f in fold_metrics])) + 1


class _Selector:
    """The epoch whose weights are tested: the best (optionally smoothed) validation value from
    ``min_epochs`` on; with no validation data, the last epoch."""

    def __init__(self, cfg: TrainConfig, has_validation: bool, state: dict | None = None):
        self.cfg, self.has_validation = cfg, has_validation
        self.raw: list[float] = []
        self.best = {"epoch": -1, "value": math.inf, "state": None}
        if state:
            self.raw, self.best = state["raw"], state["best"]

    def state(self) -> dict:
        return {"raw": self.raw, "best": self.best}

    def value(self, v: dict) -> float:
        raw = v["loss"] if self.cfg.monitor == "loss" else -v["uf1"]
        self.raw.append(raw)
        window = self.raw[-self.cfg.smoothing:]
        return float(np.mean(window))

    def update(self, epoch: int, v: dict, model: nn.Module) -> float:
        value = self.value(v) if self.has_validation else -float(epoch)
        eligible = epoch >= self.cfg.min_epochs or not self.has_validation
        if eligible and (value < self.best["value"] or self.best["epoch"] < 0):
            self.best = {"epoch": epoch, "value": value, "state": copy.deepcopy(model.state_dict())}
        return value

    def stop(self, epoch: int) -> bool:
        """Early stopping: only with validation data, and not before min_epochs."""
        return (self.has_validation and self.best["epoch"] >= 0 and epoch >= self.cfg.min_epochs
                and epoch - self.best["epoch"] > self.cfg.patience)


def _fit(model, opt, scaler, train: ArrayData, val: ArrayData | None, cfg: TrainConfig, n_classes: int,
         device: torch.device, gen: torch.Generator, *, epochs: int, early_stop: bool, desc: str,
         progress: bool, history: list | None = None, selector: _Selector | None = None, start_epoch: int = 0,
         on_epoch=None) -> tuple[list[dict], _Selector]:
    """Train for up to ``epochs`` epochs, evaluating ``val`` (may be None or empty) after each."""
    from tqdm import tqdm

    history = history if history is not None else []
    has_val = val is not None and len(val) > 0
    selector = selector or _Selector(cfg, has_val)
    bar = tqdm(range(start_epoch, epochs), desc=desc, unit="epoch", disable=not progress, initial=start_epoch,
               total=epochs, mininterval=5.0)
    for epoch in bar:
        if early_stop and selector.stop(epoch):
            break
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(cfg, epoch, epochs)
        total, seen, train_time = train_epoch(model, opt, scaler, train, cfg.batch_size, gen, device,
                                              cfg.label_smoothing)
        if not math.isfinite(total):
            raise FoldError(f"{desc}: the training loss is not finite in epoch {epoch} ({total / max(seen, 1)}): "
                            "the settings diverge (learning rate, inputs); nothing is reported")
        v = _evaluate(model, val, device, n_classes) if has_val else {"loss": math.nan, "accuracy": math.nan, "uf1": math.nan}
        value = selector.update(epoch, v, model)
        history.append({"epoch": epoch, "lr": opt.param_groups[0]["lr"], "train_loss": total / max(seen, 1),
                        "val_loss": v["loss"], "val_accuracy": v["accuracy"], "val_uf1": v["uf1"],
                        "monitored": value if has_val else math.nan, "train_seconds": train_time,
                        "samples_per_second": seen / max(train_time, 1e-9)})
        bar.set_postfix(train=f"{history[-1]['train_loss']:.3f}", val=f"{v['loss']:.3f}", best=selector.best["epoch"])
        log.info("%s epoch %d: train loss %.4f, val loss %.4f, val acc %.3f, val UF1 %.3f, %.0f samples/s", desc, epoch,
                 history[-1]["train_loss"], v["loss"], v["accuracy"], v["uf1"], history[-1]["samples_per_second"])
        if on_epoch:
            on_epoch(epoch, history, selector)
    return history, selector


def subject_splits(subjects: list[str], cfg: TrainConfig) -> list[list[str]]:
    """Validation subjects of each subject-wise split (whole training subjects held out, as the test
    subject is): one split of ``val_fraction`` of them, or ``val_splits`` disjoint groups. Empty when
    there are fewer than two training subjects."""
    subjects = sorted(subjects)
    if len(subjects) < 2:
        return []
    order = list(np.random.default_rng(cfg.seed).permutation(subjects))
    if cfg.val_splits == 1:
        n_val = min(len(order) - 1, max(1, int(round(cfg.val_fraction * len(order)))))
        return [sorted(order[:n_val])]
    k = min(cfg.val_splits, len(order))
    return [sorted(order[i::k]) for i in range(k)]


CHECKPOINT_FORMAT = 2


def files_digest(paths) -> str:
    """A digest of the files' contents (in the given order): what a checkpoint was trained on."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for p in paths:
        h.update(f"{Path(p).name}\0".encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _read_checkpoint(path: Path, device) -> dict | None:
    """A fold checkpoint (tensors and plain data only; anything else is refused unopened), or None."""
    import pickle

    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        log.warning("%s holds more than tensors and plain data: never loaded (a file that would run code)", path)
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint only means starting again
        log.warning("%s cannot be read (%s: %s)", path, type(exc).__name__, exc)
        return None
    return ckpt if isinstance(ckpt, dict) else None


def _checkpoint_mismatch(ckpt: dict | None, cfg_dict: dict, fold: str, epochs: int, digest: str) -> str | None:
    """Why a checkpoint cannot be resumed (None when it can)."""
    if ckpt is None:
        return "cannot be used (see above)"
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        return "is of an older format"
    if ckpt.get("config") != cfg_dict or ckpt.get("fold") != fold or ckpt.get("epochs") != epochs:
        return "was made with other training settings"
    if ckpt.get("inputs") != digest:
        return "was trained on other shard contents (the data changed since)"
    return None


def _train_on_all(shards: list[str | Path], cfg: TrainConfig, epochs: int, progress: bool, desc: str):
    """One model trained on every shard (all augmentations, no validation) for ``epochs`` epochs."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    data, subjects, classes = load_shards(list(shards), data_streams(cfg), augmented=cfg.augment,
                                          input_scale=cfg.input_scale)
    uvs_size = _uvs_size(data)
    if device.type == "cuda":
        data = data.to(device)
    model, opt, scaler = _model_and_optimizer(cfg, len(classes), device, uvs_size)
    gen = torch.Generator().manual_seed(cfg.seed)
    history, _ = _fit(model, opt, scaler, data, None, cfg, len(classes), device, gen, epochs=epochs, early_stop=False,
                      desc=desc, progress=progress)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return state, classes, subjects, history, len(data)


def train_final(shards: list[str | Path], out: str | Path, cfg: TrainConfig, *, epochs: int | list[int],
                settings: dict, loso: dict, progress: bool = True) -> dict:
    """Train on every subject's shard for ``epochs`` epochs fixed in advance (an ensemble: one count per
    member, see :func:`final_epochs`), and write a self-contained bundle (see :mod:`microexpr.predict`)."""
    from .predict import make_bundle, save_bundle

    if is_handcrafted(cfg.model):
        return handcrafted.train_final(shards, out, cfg, settings=settings, loso=loso)
    if cfg.ensemble:
        counts = list(epochs) if isinstance(epochs, (list, tuple)) else [int(epochs)] * len(cfg.ensemble)
        if len(counts) != len(cfg.ensemble):
            raise FoldError(f"final model: {len(counts)} epoch counts for {len(cfg.ensemble)} ensemble members")
        members = []
        for i, (member, n) in enumerate(zip(ensemble_members(asdict(cfg)), counts)):
            state, classes, subjects, history, n_samples = _train_on_all(
                shards, TrainConfig(**member), n, progress, f"final model, member {i + 1}")
            members.append({"model": state, "train": member, "epochs": n, "history": history})
        bundle = make_bundle({}, classes, asdict(cfg), settings=settings, loso=loso, epochs=max(counts),
                             subjects=subjects, history=members[0]["history"], members=members)
    else:
        state, classes, subjects, history, n_samples = _train_on_all(shards, cfg, int(epochs), progress, "final model")
        bundle = make_bundle(state, classes, asdict(cfg), settings=settings, loso=loso, epochs=int(epochs),
                             subjects=subjects, history=history)
    save_bundle(bundle, out)
    log.info("final model: %d subjects, %d samples, %s epochs -> %s", len(subjects), n_samples, epochs, out)
    return bundle


def train_fold(train_shards: list[str | Path], test_shards: str | Path | list[str | Path], out_dir: str | Path,
               cfg: TrainConfig, *, fold: str | None = None, progress: bool = True) -> dict:
    """Train on ``train_shards``, choose the tested weights on training subjects only (``cfg.validation``),
    test on ``test_shards`` (one subject's shard for LOSO; every shard of one dataset for
    leave-one-dataset-out). ``fold`` names the fold (default: the held-out subject(s)).

    Writes ``predictions.csv``, ``metrics.json`` (with ``selection``: the rule that picked the weights),
    ``history.tsv`` and ``model.pt`` into ``out_dir`` (each atomically) and keeps ``checkpoint.pt``
    there while training (a single training run resumes from it). Returns the fold's metrics.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if is_handcrafted(cfg.model):  # features files, not shards
        return handcrafted.train_fold(train_shards, test_shards, out, cfg, fold=fold)
    if cfg.ensemble:
        return _train_ensemble(train_shards, test_shards, out, cfg, fold=fold, progress=progress)
    if cfg.choose:
        return _train_choice(train_shards, test_shards, out, cfg, fold=fold, progress=progress)
    t_start = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    streams = data_streams(cfg)
    train_all, train_subjects, classes = load_shards(list(train_shards), streams, augmented=cfg.augment,
                                                     input_scale=cfg.input_scale)
    test_shards = [test_shards] if isinstance(test_shards, (str, Path)) else list(test_shards)
    test, test_subjects, test_classes = load_shards(test_shards, streams, augmented=False, input_scale=cfg.input_scale)
    held_out = fold or "+".join(test_subjects)
    # the same person (dataset/subject of the clip ids) on both sides is a leak, whatever the shards say
    train_clip_subjects = {SampleId.parse(i).person for i in np.unique(train_all.ids)}
    test_clip_subjects = {SampleId.parse(i).person for i in np.unique(test.ids)}
    leaked = sorted(set(test_subjects) & set(train_subjects)) or sorted(test_clip_subjects & train_clip_subjects)
    if leaked:
        raise FoldError(f"held-out subject(s) {leaked} are among the training shards {train_subjects}")
    if test_classes != classes:
        raise FoldError(f"test shard classes {test_classes} differ from training classes {classes}")
    n_classes = len(classes)
    uvs_size = _uvs_size(train_all)

    # the validation split(s): never the held-out subject
    val_ids: set[str] = set()
    groups: list[list[str]] = []
    if cfg.validation == "clips":
        val_ids = validation_clips(train_all.ids, train_all.y.numpy(), cfg.val_fraction, cfg.seed)
        is_val = np.isin(train_all.ids, list(val_ids))
        splits = [(~is_val, is_val & (train_all.aug == 0))] if is_val.any() else []
    elif cfg.validation == "subjects":
        sample_subjects = train_all.subjects.astype(str)
        groups = subject_splits(list(np.unique(sample_subjects)), cfg)
        splits = [(~np.isin(sample_subjects, g), np.isin(sample_subjects, g) & (train_all.aug == 0)) for g in groups]
    else:
        splits = []
    if cfg.validation != "none" and not splits:
        log.warning("fold %s: no validation split is possible (too few training clips or subjects): the last of "
                    "%d epochs is tested (the test subject is never used to choose)", held_out, cfg.max_epochs)
    if device.type == "cuda":  # the fold's samples fit on the GPU as uint8: copy them there once
        train_all, test = train_all.to(device), test.to(device)

    ckpt_path = out / "checkpoint.pt"
    cfg_dict = asdict(cfg)
    inner: list[list[dict]] = []
    if len(splits) > 1:
        # several subject-disjoint splits: average their curves, choose the epoch, retrain on every training subject
        for i, (tr, va) in enumerate(splits):
            m, o, sc = _model_and_optimizer(cfg, n_classes, device, uvs_size)
            g = torch.Generator().manual_seed(cfg.seed + 1000 * (i + 1))
            h, _ = _fit(m, o, sc, train_all.subset(tr), train_all.subset(va), cfg, n_classes, device, g,
                        epochs=cfg.max_epochs, early_stop=False, desc=f"fold {held_out} split {i + 1}", progress=progress)
            inner.append(h)
        curves = np.array([[r["monitored"] for r in h] for h in inner])
        mean_curve = curves.mean(axis=0)
        eligible = np.arange(len(mean_curve)) >= cfg.min_epochs
        chosen = int(np.flatnonzero(eligible)[np.argmin(mean_curve[eligible])]) if eligible.any() else len(mean_curve) - 1
        train, val, epochs, early_stop = train_all, None, chosen + 1, False
    elif splits:
        tr, va = splits[0]
        train, val, epochs, early_stop = train_all.subset(tr), train_all.subset(va), cfg.max_epochs, True
    else:
        train, val, epochs, early_stop = train_all, None, cfg.max_epochs, False
    log.info("fold %s: train %d samples (%d clips, subjects %s), validation %d clips, test %d clips; device %s; %s",
             held_out, len(train), len(np.unique(train.ids)), ",".join(train_subjects), 0 if val is None else len(val),
             len(test), device, cfg.selection_rule())

    model, opt, scaler = _model_and_optimizer(cfg, n_classes, device, uvs_size)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    selector, start_epoch = None, 0
    inputs_digest = files_digest([*train_shards, *test_shards])
    if ckpt_path.exists():
        ckpt = _read_checkpoint(ckpt_path, device)
        why = _checkpoint_mismatch(ckpt, cfg_dict, held_out, epochs, inputs_digest)
        if why is None:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            history, start_epoch = ckpt["history"], ckpt["epoch"] + 1
            selector = _Selector(cfg, val is not None and len(val) > 0, ckpt["selector"])
            gen.set_state(ckpt["generator"])
            torch.set_rng_state(ckpt["torch_rng"])
            log.info("resumed from %s at epoch %d (same settings, fold and shard contents)", ckpt_path, start_epoch)
        else:
            log.warning("fold %s starts from scratch: the checkpoint %s %s", held_out, ckpt_path, why)

    def checkpoint(epoch, hist, sel):
        with atomic_path(ckpt_path) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "epochs": epochs,
                        "history": hist, "selector": sel.state(), "generator": gen.get_state(),
                        "torch_rng": torch.get_rng_state(), "config": cfg_dict, "fold": held_out,
                        "inputs": inputs_digest, "format": CHECKPOINT_FORMAT}, tmp)

    history, selector = _fit(model, opt, scaler, train, val, cfg, n_classes, device, gen, epochs=epochs,
                             early_stop=early_stop, desc=f"fold {held_out}", progress=progress, history=history,
                             selector=selector, start_epoch=start_epoch, on_epoch=checkpoint)
    best = selector.best
    if best["state"] is None:  # min_epochs beyond the epochs run: the last epoch is tested
        best = {"epoch": len(history) - 1, "value": math.nan, "state": copy.deepcopy(model.state_dict())}
    if len(splits) > 1:
        best = {**best, "epoch": epochs - 1}
        for r, m in zip(history, curves.mean(axis=0)):  # the averaged inner curves, for the report's plot
            r["monitored"] = float(m)
        for key in ("val_loss", "val_uf1", "val_accuracy"):
            means = np.nanmean(np.array([[r[key] for r in h] for h in inner]), axis=0)
            for r, m in zip(history, means):
                r[key] = float(m)
    model.load_state_dict(best["state"])
    probs = predict(model, test, device)
    if not np.isfinite(probs).all():
        raise FoldError(f"fold {held_out}: the model's outputs on the test subject are not finite; nothing is "
                        "reported (check the training settings and inputs)")
    pred = probs.argmax(1)
    y = test.y.cpu().numpy()
    fold_scores = scores(y, pred, n_classes, all_classes=False)
    predictions = pd.DataFrame({"sample_id": test.ids, "subject": test.subjects,
                                "fold": held_out,
                                "label": [classes[i] for i in y], "pred": [classes[i] for i in pred]})
    for j, c in enumerate(classes):
        predictions[f"p_{c}"] = probs[:, j]
    n_val = 0 if val is None else len(val)
    selection = {"rule": cfg.selection_rule() if splits or cfg.validation == "none"
                 else f"fixed {cfg.max_epochs} epochs (no validation split was possible)",
                 "validation": cfg.validation if splits else "none", "monitor": cfg.monitor, "smoothing": cfg.smoothing,
                 "min_epochs": cfg.min_epochs, "patience": cfg.patience, "splits": len(splits),
                 "validation_subjects": groups, "epoch": best["epoch"]}
    metrics = {
        "fold": held_out, "test_subjects": test_subjects, "train_subjects": train_subjects,
        "train_shards": [str(p) for p in train_shards], "test_shards": [str(p) for p in test_shards],
        "classes": classes, "model": cfg.model, "streams": list(streams),
        "n_train_samples": len(train), "n_validation_clips": n_val, "n_test": len(test),
        "validation_clips": sorted(val_ids), "early_stopping": early_stop and n_val > 0, "selection": selection,
        "best_epoch": best["epoch"], "epochs_run": len(history),
        "accuracy": fold_scores["accuracy"], "uf1": fold_scores["uf1"], "uar": fold_scores["uar"],
        "confusion": fold_scores["confusion"].tolist(), "device": str(device),
        "processor": processor_name(device),
        "seconds": time.perf_counter() - t_start, "config": cfg_dict, "microexpr": __version__,
        # what the model's constructor got: the settings given, the model's own defaults for the rest
        "model_settings": {k: list(v) if isinstance(v, tuple) else v
                           for k, v in model_settings(cfg.model, **_settings(cfg, n_classes, uvs_size)).items()},
        "torch": torch.__version__,
        # the named recipe (train.recipe), every value it set with its source, and what the config overrode
        "recipe": recipe_report(cfg_dict),
    }
    with atomic_path(out / "predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False)
    with atomic_path(out / "history.tsv") as tmp:
        pd.DataFrame(history).to_csv(tmp, sep="\t", index=False)
    with atomic_path(out / "model.pt") as tmp:
        torch.save({"model": best["state"], "classes": classes, "config": cfg_dict, "epoch": best["epoch"],
                    "fold": held_out}, tmp)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    ckpt_path.unlink(missing_ok=True)
    log.info("fold %s: tested epoch %d of %d (%s), test accuracy %.3f, UF1 %.3f (%d clips) in %.0f s", held_out,
             best["epoch"], len(history), selection["rule"], metrics["accuracy"], metrics["uf1"], len(test),
             metrics["seconds"])
    return metrics


def _train_ensemble(train_shards, test_shards, out: Path, cfg: TrainConfig, *, fold: str | None,
                    progress: bool) -> dict:
    """``cfg.ensemble``: each member trained as its own fold (under ``out/members/m<i>``, its weights
    chosen by its own rule on training subjects only), the members' class probabilities averaged. The
    fold's files are the ensemble's; ``metrics.json`` lists every member's settings and scores."""
    t_start = time.perf_counter()
    members = []
    for i, settings in enumerate(ensemble_members(asdict(cfg))):
        where = out / "members" / f"m{i + 1}"
        log.info("ensemble member %d of %d: %s", i + 1, len(cfg.ensemble), cfg.ensemble[i])
        metrics = train_fold(train_shards, test_shards, where, TrainConfig(**settings), fold=fold, progress=progress)
        members.append((metrics, pd.read_csv(where / "predictions.csv", dtype={"subject": str, "fold": str})))
    first, first_preds = members[0]
    classes = first["classes"]
    cols = [f"p_{c}" for c in classes]
    for i, (_, preds) in enumerate(members[1:], start=2):
        if preds.sample_id.tolist() != first_preds.sample_id.tolist():
            raise FoldError(f"ensemble member {i} tested other samples than member 1")
    probs = np.mean([preds[cols].to_numpy() for _, preds in members], axis=0)
    pred = probs.argmax(1)
    index = {c: i for i, c in enumerate(classes)}
    y = first_preds.label.map(index).to_numpy()
    fold_scores = scores(y, pred, len(classes), all_classes=False)
    predictions = first_preds.copy()
    predictions["pred"] = [classes[i] for i in pred]
    predictions[cols] = probs
    records = [{"member": i + 1, "settings": dict(cfg.ensemble[i]), "model": m["model"],
                "recipe": (m.get("recipe") or {}).get("name"), "best_epoch": m["best_epoch"],
                "epochs_run": m["epochs_run"], "selection": m["selection"]["rule"], "accuracy": m["accuracy"],
                "uf1": m["uf1"], "uar": m["uar"], "pred": p.pred.tolist()} for i, (m, p) in enumerate(members)]
    cfg_dict = asdict(cfg)
    metrics = {
        **first, "model": "ensemble", "streams": sorted({s for m, _ in members for s in m["streams"]}),
        "accuracy": fold_scores["accuracy"], "uf1": fold_scores["uf1"], "uar": fold_scores["uar"],
        "confusion": fold_scores["confusion"].tolist(),
        "selection": {**first["selection"], "rule": f"ensemble of {len(members)} (mean class probabilities): "
                      + "; ".join(f"member {r['member']}: {r['selection']}" for r in records)},
        "seconds": time.perf_counter() - t_start, "config": cfg_dict, "recipe": recipe_report(cfg_dict),
        "model_settings": [m["model_settings"] for m, _ in members],
        # best_epoch / epochs_run above are member 1's (the per-fold table); each member's are here
        "ensemble": {"members": records},
    }
    with atomic_path(out / "predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False)
    with atomic_path(out / "history.tsv") as tmp:  # member 1's curves (each member's: members/m<i>/history.tsv)
        tmp.write_bytes((out / "members" / "m1" / "history.tsv").read_bytes())
    with atomic_path(out / "model.pt") as tmp:
        torch.save({"members": [torch.load(out / "members" / f"m{i + 1}" / "model.pt", weights_only=True)
                                for i in range(len(members))], "classes": classes, "config": cfg_dict,
                    "fold": first["fold"]}, tmp)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("fold %s: ensemble of %d, test accuracy %.3f, UF1 %.3f (members' UF1 %s)", first["fold"], len(members),
             metrics["accuracy"], metrics["uf1"], ", ".join(f"{r['uf1']:.3f}" for r in records))
    return metrics


def inner_groups(train_shards: list[str | Path], k: int, seed: int) -> list[list[str]]:
    """The training shards (one per subject) in ``k`` subject-disjoint groups, shuffled by ``seed``
    (fewer groups where there are fewer shards)."""
    shards = sorted(str(p) for p in train_shards)
    order = np.random.default_rng(seed).permutation(len(shards))
    k = min(k, len(shards))
    return [[shards[i] for i in sorted(part)] for part in np.array_split(order, k)]


def _train_choice(train_shards, test_shards, out: Path, cfg: TrainConfig, *, fold: str | None,
                  progress: bool) -> dict:
    """``cfg.choose``: each candidate cross-validated over the training subjects only (``choose_folds``
    subject-disjoint groups, each held out in turn, the candidate's own rule choosing its weights inside),
    the one with the best pooled inner UF1 (ties: the first listed) trained on every training subject
    and tested once on the held-out subject(s). A pick that selects its epoch (validation clips or
    subjects) trains for the median of its inner folds' selected epoch counts instead, on all of them."""
    t_start = time.perf_counter()
    train_shards = [str(p) for p in train_shards]
    test_list = [str(test_shards)] if isinstance(test_shards, (str, Path)) else [str(p) for p in test_shards]
    if set(train_shards) & set(test_list):
        raise FoldError(f"held-out shard(s) {sorted(set(train_shards) & set(test_list))} are among the training shards")
    groups = inner_groups(train_shards, cfg.choose_folds, cfg.seed)
    if len(groups) < 2:
        raise FoldError("choose: an inner cross-validation needs at least two training subjects")
    candidates = choose_candidates(asdict(cfg))
    records = []
    for c, settings in enumerate(candidates):
        preds, epochs = [], []
        for g, held in enumerate(groups):
            inner_train = [p for p in train_shards if p not in held]
            log.info("choose: candidate %d of %d, inner fold %d of %d", c + 1, len(candidates), g + 1, len(groups))
            m = train_fold(inner_train, held, out / "choose" / f"c{c + 1}" / f"inner{g + 1}", TrainConfig(**settings),
                           fold=f"inner{g + 1}", progress=progress)
            preds.append(pd.read_csv(out / "choose" / f"c{c + 1}" / f"inner{g + 1}" / "predictions.csv"))
            epochs.append(int(m["best_epoch"]) + 1)
        inner = pd.concat(preds, ignore_index=True)
        classes = m["classes"]
        index = {name: i for i, name in enumerate(classes)}
        s = scores(inner.label.map(index).to_numpy(), inner.pred.map(index).to_numpy(), len(classes))
        records.append({"candidate": c + 1, "settings": dict(cfg.choose[c]), "inner_uf1": s["uf1"],
                        "inner_accuracy": s["accuracy"], "inner_clips": len(inner), "inner_epochs": epochs})
    picked = max(range(len(records)), key=lambda i: (records[i]["inner_uf1"], -i))
    log.info("choose: candidate %d picked (inner UF1 %s)", picked + 1,
             ", ".join(f"{r['inner_uf1']:.3f}" for r in records))
    pick = dict(candidates[picked])
    rule = (f"candidate {picked + 1} of {len(records)} picked by {len(groups)}-fold inner cross-validation over the "
            "training subjects (pooled UF1); ")
    if pick.get("validation", "clips") != "none":
        # a candidate that selects its epoch: the inner folds' median selected epoch count, then every
        # training subject trains for that many epochs (none is held back for a second selection)
        n = int(np.median(records[picked]["inner_epochs"]))
        log.info("choose: the pick trains %d epochs on every training subject (median of the inner folds' %s)",
                 n, records[picked]["inner_epochs"])
        pick.update(validation="none", max_epochs=n)
        rule += f"its epoch count {n} the median of the inner folds' selected epochs; "
    metrics = train_fold(train_shards, test_list, out / "picked", TrainConfig(**pick), fold=fold, progress=progress)
    cfg_dict = asdict(cfg)
    metrics = {**metrics, "config": cfg_dict, "recipe": recipe_report(cfg_dict),
               "selection": {**metrics["selection"], "rule": rule + metrics["selection"]["rule"]},
               "seconds": time.perf_counter() - t_start,
               "choose": {"picked": picked + 1, "candidates": records,
                          "inner_groups": [[Path(p).stem for p in g] for g in groups]}}
    for name in ("predictions.csv", "history.tsv", "model.pt"):
        with atomic_path(out / name) as tmp:
            tmp.write_bytes((out / "picked" / name).read_bytes())
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
