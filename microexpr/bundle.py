"""A model bundle (``final_model.pt``): the weights of a run's final model and, as plain data, every
setting that made its inputs, the LOSO scores it stands on and the software versions. A bundle is
data: it is read with ``weights_only=True`` and nothing in it is ever run.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from . import __version__
from .errors import PredictError
from .io import atomic_path

BUNDLE_FORMAT = 1


def plain(obj):
    """``obj`` as plain data (dicts, lists, text, numbers, None): what a bundle holds beside its tensors.
    Tuples become lists, numpy scalars numbers; anything else is an error (a bundle holds no objects)."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else _no_object(o)))


def _no_object(o):
    raise TypeError(f"a model bundle holds plain data only, not {type(o).__name__}")


def make_bundle(state: dict, classes: list[str], train: dict, *, settings: dict, loso: dict, epochs: int,
                subjects: list[str], history: list[dict], members: list[dict] | None = None) -> dict:
    """``members`` (an ensemble): each member's weights, train settings, epochs and history; their
    class probabilities are averaged at prediction."""
    import torch

    def tensors(weights: dict) -> dict:
        return {k: v.detach().cpu().contiguous() for k, v in weights.items()}

    bundle = {"format": BUNDLE_FORMAT, "model": tensors(state),
              **plain({"classes": list(classes), "train": dict(train), "settings": settings, "loso": loso,
                       "epochs": int(epochs), "subjects": list(subjects), "history": history,
                       "versions": {"microexpr": __version__, "torch": torch.__version__}})}
    if members:
        bundle["members"] = [{"model": tensors(m["model"]),
                              **plain({k: m[k] for k in ("train", "epochs", "history")})} for m in members]
    return bundle


def member_bundles(bundle: dict) -> list[dict]:
    """An ensemble bundle as one bundle per member (the bundle itself when it is one model)."""
    if not bundle.get("members"):
        return [bundle]
    rest = {k: v for k, v in bundle.items() if k != "members"}
    return [{**rest, "model": m["model"], "train": m["train"], "epochs": m["epochs"]} for m in bundle["members"]]


def save_bundle(bundle: dict, out: str | Path) -> Path:
    import torch

    with atomic_path(out) as tmp:
        torch.save(bundle, tmp)
    return Path(out)


def load_bundle(path: str | Path) -> dict:
    import torch

    path = Path(path)
    if not path.is_file():
        raise PredictError(f"model bundle not found: {path}")
    try:  # tensors and plain data only: a model file is data, and nothing in it is ever run
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise PredictError(f"{path}: refused: it holds more than tensors and plain data (a file that would run "
                           f"code or build objects when loaded is never opened as a model; "
                           f"{str(exc).splitlines()[0][:200]})") from None
    except Exception as exc:  # noqa: BLE001 - any other failure means the same to a user
        raise PredictError(f"{path}: not a model bundle ({type(exc).__name__}: {exc})") from None
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        found = bundle.get("format") if isinstance(bundle, dict) else type(bundle).__name__
        raise PredictError(f"{path}: bundle format {found!r} is not the one this microexpr {__version__} reads "
                           f"({BUNDLE_FORMAT}); a fold's model.pt is not a bundle either: use final_model.pt")
    return bundle


def bundle_config(bundle: dict):
    """The bundle's training settings as a TrainConfig (defaults where an older bundle lacks a key)."""
    from .train_settings import TrainConfig

    return TrainConfig(**{**bundle["train"], "pretrained": None})  # the weights are in the bundle
