"""The model registry: ``@register_model`` names a constructor; ``create_model(name, **kw)`` builds it
(see :mod:`microexpr.models`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_STREAMS: dict[str, tuple[str, ...] | str] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, streams: Sequence[str] | str | None = None):
    """Register a constructor under its function name (usable bare or with ``streams=``)."""

    def add(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if f.__name__ in _REGISTRY:
            raise ValueError(f"model {f.__name__!r} registered twice")
        _REGISTRY[f.__name__] = f
        if streams is not None:
            _STREAMS[f.__name__] = streams if isinstance(streams, str) else tuple(streams)
        return f

    return add(fn) if fn is not None else add


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def fold_models() -> list[str]:
    """The models ``train.model`` may name."""
    return sorted(_STREAMS)


def model_streams(name: str, configured: Sequence[str]) -> tuple[str, ...]:
    """The streams model ``name`` reads (``configured``: ``train.streams``, for models that take them)."""
    if name not in _STREAMS:
        raise ValueError(f"unknown model {name!r} for training; registered: {', '.join(fold_models())}")
    declared = _STREAMS[name]
    return tuple(configured) if declared == "configured" else declared


def create_model(name: str, **kwargs) -> nn.Module:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _REGISTRY[name](**kwargs)


# what a fold model's constructor may take besides the ``train`` settings of the same name
_BUILT_IN = ("num_classes", "streams", "uvs_size")


def model_settings(name: str, **settings) -> dict:
    """The constructor arguments of fold model ``name`` from the training settings: each setting the
    constructor takes, where it is given (not None); the model's own default otherwise. A constructor
    parameter that is no training setting (a misspelt name would silently keep its default) is refused."""
    from dataclasses import fields

    from ..train_settings import TrainConfig

    model_streams(name, settings.get("streams", ()))  # an unknown name is refused with the list
    params = inspect.signature(_REGISTRY[name]).parameters
    known = {f.name for f in fields(TrainConfig)} | set(_BUILT_IN)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"model {name!r}: constructor parameter(s) {unknown} are no train setting "
                         f"(known: {', '.join(sorted(known))})")
    out = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    out.update({k: v for k, v in settings.items() if k in params and v is not None})
    return out


def create_fold_model(name: str, **settings) -> nn.Module:
    """Build a training model from the training settings (see :func:`model_settings`)."""
    return _REGISTRY[name](**model_settings(name, **settings))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
