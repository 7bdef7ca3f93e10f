"""A fold's checkpoint (every epoch, atomic): model, optimizer, epoch, history, selector and RNG states,
the settings and a digest of the shard contents. A killed run resumes from it only when all of these
match; anything else starts the fold again, with the reason logged. A checkpoint is read with
``weights_only=True``: a file that would run code when loaded is never opened."""

from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path

import torch

from ..io import atomic_path
from .selection import Selector

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 2


def files_digest(paths) -> str:
    """A digest of the files' contents (in the given order): what a checkpoint was trained on."""
    h = hashlib.blake2b(digest_size=16)
    for p in paths:
        h.update(f"{Path(p).name}\0".encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_checkpoint(path: Path, device) -> dict | None:
    """A fold checkpoint (tensors and plain data only; anything else is refused unopened), or None."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        log.warning("%s holds more than tensors and plain data: never loaded (a file that would run code)", path)
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint only means starting again
        log.warning("%s cannot be read (%s: %s)", path, type(exc).__name__, exc)
        return None
    return ckpt if isinstance(ckpt, dict) else None


def checkpoint_mismatch(ckpt: dict | None, cfg_dict: dict, fold: str, epochs: int, digest: str) -> str | None:
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


class FoldCheckpoint:
    """``checkpoint.pt`` of one fold's training run: :meth:`resume` restores a matching one into the
    run's model, optimizer and generator; :meth:`save` (an ``on_epoch`` hook of
    :func:`~microexpr.training.loop.fit`) writes one after every epoch."""

    def __init__(self, path: Path, *, cfg, cfg_dict: dict, fold: str, epochs: int, inputs: list, model, opt,
                 gen: torch.Generator):
        self.path, self.cfg, self.cfg_dict, self.fold, self.epochs = path, cfg, cfg_dict, fold, epochs
        self.model, self.opt, self.gen = model, opt, gen
        self.digest = files_digest(inputs)

    def resume(self, device, has_validation: bool) -> tuple[list[dict], Selector | None, int]:
        """(history, selector, first epoch to run) from a matching checkpoint, or a fresh start."""
        if not self.path.exists():
            return [], None, 0
        ckpt = read_checkpoint(self.path, device)
        why = checkpoint_mismatch(ckpt, self.cfg_dict, self.fold, self.epochs, self.digest)
        if why is not None:
            log.warning("fold %s starts from scratch: the checkpoint %s %s", self.fold, self.path, why)
            return [], None, 0
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.gen.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        start = ckpt["epoch"] + 1
        log.info("resumed from %s at epoch %d (same settings, fold and shard contents)", self.path, start)
        return ckpt["history"], Selector(self.cfg, has_validation, ckpt["selector"]), start

    def save(self, epoch: int, history: list[dict], selector: Selector) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "epoch": epoch,
                        "epochs": self.epochs, "history": history, "selector": selector.state(),
                        "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                        "config": self.cfg_dict, "fold": self.fold, "inputs": self.digest,
                        "format": CHECKPOINT_FORMAT}, tmp)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
