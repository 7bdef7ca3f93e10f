"""MSCNN: one ResNet-18 trunk per stream (flow image, apex gray, masked apex), features concatenated,
a dense layer, the in-network over-sampler (training only), and the classifier (softmax in the loss)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ..streams import STREAMS as REGISTERED, image_streams
from .oversample import FeatureOversampler, OversampledHead
from .registry import register_model
from .resnet import ResNet, load_torchvision_weights

STREAMS = ("flow", "gray", "masked")  # the paper's three streams (train.streams' default)


class MSCNN(OversampledHead, nn.Module):
    def __init__(self, num_classes: int, streams: Sequence[str] = STREAMS, width: int = 64, dense: int = 256,
                 sampler: str = "random", k_neighbors: int = 5, dropout: float = 0.0,
                 pretrained: str | None = None):
        super().__init__()
        streams, allowed = tuple(streams), image_streams()
        bad = [s for s in streams if s not in allowed]
        if not streams or bad or len(set(streams)) != len(streams):
            raise ValueError(f"streams must be a non-empty subset of {allowed} without repeats, got {streams}")
        self.streams = streams
        self.trunks = nn.ModuleDict(
            {s: ResNet(in_channels=REGISTERED[s].channels, width=width, num_classes=None) for s in streams})
        if pretrained:
            for trunk in self.trunks.values():
                load_torchvision_weights(trunk, pretrained)
        features = sum(t.out_features for t in self.trunks.values())
        self.dense = nn.Sequential(nn.Linear(features, dense), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.oversampler = FeatureOversampler(sampler, k_neighbors)
        self.classifier = nn.Linear(dense, num_classes)

    def features(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [s for s in self.streams if s not in inputs]
        if missing:
            raise KeyError(f"inputs lack stream(s) {missing}")
        return self.dense(torch.cat([self.trunks[s](inputs[s]) for s in self.streams], dim=1))



@register_model(streams="configured")
def mscnn(num_classes: int = 5, streams: Sequence[str] = STREAMS, width: int = 64, dense: int = 256,
          sampler: str = "random", k_neighbors: int = 5, dropout: float = 0.0, pretrained: str | None = None) -> MSCNN:
    return MSCNN(num_classes, streams, width, dense, sampler, k_neighbors, dropout, pretrained)
