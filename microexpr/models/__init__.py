"""Model registry: ``@register_model`` names a constructor; ``create_model(name, **kw)`` builds it.

Models a LOSO fold can train (``train.model``) are registered with the streams they consume:
``@register_model(streams=("uvs",))``, or ``streams="configured"`` for a model that takes the streams
``train.streams`` lists (MSCNN). They take a dict of stream tensors and have ``forward_train(inputs,
labels, generator)``, which returns logits and labels after the in-network over-sampler. Models
registered without streams (ResNet-18) are building blocks.
"""

from __future__ import annotations

from . import htnet, mscnn, resnet, small  # noqa: F401  (registers the models)
from .htnet import HTNet
from .mscnn import MSCNN
from .oversample import OVERSAMPLERS, FeatureOversampler
from .registry import (
    count_parameters, create_fold_model, create_model, fold_models, list_models, model_settings, model_streams,
    register_model,
)
from .resnet import ResNet, load_torchvision_weights
from .small import OffApexNet, STSTNet

__all__ = ["register_model", "list_models", "fold_models", "model_streams", "create_model", "create_fold_model",
           "model_settings",
           "count_parameters", "HTNet", "MSCNN", "STSTNet", "OffApexNet", "ResNet", "FeatureOversampler", "OVERSAMPLERS",
           "load_torchvision_weights"]
