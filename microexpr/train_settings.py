"""The ``train`` section of the configuration as a dataclass, importable without torch (the workflow
reads it while planning)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .errors import MicroexprError


@dataclass
class TrainConfig:
    """The ``train`` section of the configuration (the only place its defaults are written; the
    schema's are checked against them): what a fold learns, and the settings of where it runs."""

    # settings that change where or how fast a fold runs, not what it learns (not in the run's tag)
    NOT_LEARNED: ClassVar[tuple[str, ...]] = ("device", "threads", "mem_mb", "runtime")

    streams: tuple[str, ...] = ("flow", "gray", "masked")
    width: int = 64
    dense: int = 256
    dropout: float = 0.0
    sampler: str = "random"
    k_neighbors: int = 5
    pretrained: str | None = None
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 20
    val_fraction: float = 0.2
    monitor: str = "loss"  # loss (lower is better) or uf1 (higher is better) on the validation clips
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision on CUDA
    threads: int | None = None  # torch threads; None = torch's default (the workflow: the job's threads)
    mem_mb: int = 4000          # memory a fold job asks the scheduler for (Snakemake / SLURM), MB
    runtime: int = 120          # and its time limit, minutes

    def __post_init__(self):
        self.streams = tuple(self.streams)
        if self.monitor not in ("loss", "uf1"):
            raise MicroexprError(f"monitor must be 'loss' or 'uf1', got {self.monitor!r}")
        if not 0 < self.val_fraction < 1:
            raise MicroexprError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
