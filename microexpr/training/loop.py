"""The training loop: devices and seeds, the model and its optimizer, the learning-rate schedule, one
epoch, and :func:`fit` (epochs with validation after each, the tested epoch chosen by a
:class:`~microexpr.training.selection.Selector`)."""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict

import numpy as np
import torch
import torch.nn as nn

from .. import optim
from ..errors import FoldError
from ..models import create_fold_model, model_streams
from ..train_settings import TrainConfig
from .data import ArrayData, evaluate
from .selection import Selector

log = logging.getLogger(__name__)


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


def model_kwargs(cfg: TrainConfig, n_classes: int, uvs_size: int | None = None) -> dict:
    """What a model constructor is offered: the training settings, the class count and, for models of
    the u/v/strain stream, its side."""
    settings = {**asdict(cfg), "num_classes": n_classes, "streams": cfg.streams}
    if uvs_size:
        settings["uvs_size"] = uvs_size
    return settings


def build_model(cfg: TrainConfig, n_classes: int, uvs_size: int | None = None) -> nn.Module:
    """The configured model (``cfg.model``), each constructor given the settings it takes (its own
    defaults where a setting is not given: :func:`microexpr.models.model_settings`)."""
    return create_fold_model(cfg.model, **model_kwargs(cfg, n_classes, uvs_size))


def data_streams(cfg: TrainConfig) -> tuple[str, ...]:
    """The shard streams the configured model reads."""
    return model_streams(cfg.model, cfg.streams)


def uvs_size(data: ArrayData) -> int | None:
    return int(data.x["uvs"].shape[-1]) if "uvs" in data.x else None


def model_and_optimizer(cfg: TrainConfig, n_classes: int, device: torch.device, uvs: int | None = None):
    """A fresh model on ``device``, its optimizer and the AMP gradient scaler (enabled on CUDA with ``amp``)."""
    model = build_model(cfg, n_classes, uvs).to(device)
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


_NO_VALIDATION = {"loss": math.nan, "accuracy": math.nan, "uf1": math.nan}


def fit(model, opt, scaler, train: ArrayData, val: ArrayData | None, cfg: TrainConfig, n_classes: int,
        device: torch.device, gen: torch.Generator, *, epochs: int, early_stop: bool, desc: str,
        progress: bool, history: list | None = None, selector: Selector | None = None, start_epoch: int = 0,
        on_epoch=None) -> tuple[list[dict], Selector]:
    """Train for up to ``epochs`` epochs, evaluating ``val`` (may be None or empty) after each."""
    from tqdm import tqdm

    history = history if history is not None else []
    has_val = val is not None and len(val) > 0
    selector = selector or Selector(cfg, has_val)
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
        v = evaluate(model, val, device, n_classes) if has_val else _NO_VALIDATION
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
