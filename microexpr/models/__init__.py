"""Model registry: ``@register_model`` names a constructor; ``create_model(name, **kw)`` builds it."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    if fn.__name__ in _REGISTRY:
        raise ValueError(f"model {fn.__name__!r} registered twice")
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _REGISTRY[name](**kwargs)


from . import mscnn, resnet  # noqa: E402,F401  (registers the models)
from .mscnn import MSCNN  # noqa: E402
from .oversample import OVERSAMPLERS, FeatureOversampler  # noqa: E402
from .resnet import ResNet, load_torchvision_weights  # noqa: E402

__all__ = ["register_model", "list_models", "create_model", "MSCNN", "ResNet", "FeatureOversampler",
           "OVERSAMPLERS", "load_torchvision_weights"]
