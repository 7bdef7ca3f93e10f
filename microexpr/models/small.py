"""The field's small baselines on the 28 x 28 u/v/optical-strain input (the ``uvs`` stream), written
from their papers' descriptions (no code of theirs is used):

* **STSTNet** (Liong, See, Wong and Phan, 2019, "Shallow Triple Stream Three-dimensional CNN for
  micro-expression recognition"), as its authors' released PyTorch code builds it (main.py of
  github.com/christy1206/STSTNet, the code behind the published MEGC2019 UF1 0.7353): three parallel
  3x3 convolutions over the u/v/strain image with 3, 5 and 8 filters (padding 2), each followed by
  ReLU, batch normalisation, 3x3 max-pooling with stride 3 (padding 1) and dropout 0.5; the maps
  concatenated (16 channels), 2x2 average pooling, and one dense layer to the classes. 28 -> 30 -> 10
  -> 5: the dense layer sees 16 x 5 x 5 = 400 features.
* **OFF-ApexNet** (Gan, Liong, Yau, Huang and Tan, 2019, "OFF-ApexNet on micro-expression recognition
  system"): two streams, one on u and one on v, each conv 5x5 x 6 -> 2x2 max-pool -> conv 5x5 x 16 ->
  2x2 max-pool ('same' padding, ReLU), flattened and concatenated (2 x 16 x 7 x 7 = 1568), two dense
  layers of 1024 units with ReLU and dropout, and the classifier.

* **SSSNet** (shallow single-stream net of the meb toolkit, Varanka et al.; its MEGC2019 composite
  UF1 0.7618 with fixed epochs, never choosing on the test subject), as meb builds it
  (meb/models/me_networks.py): conv 5x5 x32 (no padding), ReLU, 3x3 max-pool stride 3, batch norm,
  2-D dropout; conv 3x3 x64, ReLU, 2x2 max-pool, batch norm, 2-D dropout; dense 256 with ReLU, dropout,
  classifier. meb feeds 64 x 64 flow (``images.uvs_size: 64``): 64 -> 60 -> 20 -> 18 -> 9, so the
  dense layer sees 64 x 9 x 9 = 5184 features.

* **RCN-A** (Xia, Peng, Hong, Feng and Zhao, "Revealing the invisible with model and data shrinking for
  composite-database micro-expression recognition", IEEE TIP 2020: the recurrent convolutional network
  with its attention unit), as the meb toolkit builds it (meb/models/RCNs.py, from the authors' code):
  conv 5x5 x64 (no padding), batch norm, ReLU, 2x2 max-pool, dropout 0.5; one recurrent block (a 1x1
  feed-forward conv, then one 3x3 conv applied twice to the input plus its last output, each with batch
  norm and ReLU; 2x2 max-pool, dropout 0.5); adaptive average pooling to 5 x 5; a spatial attention map,
  made from the classifier's own weights over the pooled first-layer maps, multiplies the features.

All end, like MSCNN, in the in-network over-sampler (training only) just before the classifier.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

from .registry import register_model
from .oversample import FeatureOversampler, OversampledHead


class _Classifier(OversampledHead, nn.Module):
    """features(inputs) -> over-sampler (training) -> linear classifier."""

    def __init__(self, features: int, num_classes: int, sampler: str, k_neighbors: int):
        super().__init__()
        self.oversampler = FeatureOversampler(sampler, k_neighbors)
        self.classifier = nn.Linear(features, num_classes)

    def features(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _uvs(inputs: Mapping[str, torch.Tensor], size: int) -> torch.Tensor:
    if "uvs" not in inputs:
        raise KeyError("inputs lack stream 'uvs'")
    x = inputs["uvs"]
    if x.shape[1] != 3 or x.shape[-1] != size or x.shape[-2] != size:
        raise ValueError(f"uvs input must be N x 3 x {size} x {size} (images.uvs_size), got {tuple(x.shape)}")
    return x


class STSTNet(_Classifier):
    def __init__(self, num_classes: int = 3, size: int = 28, sampler: str = "none", k_neighbors: int = 5,
                 dropout: float = 0.5):
        pooled = (size + 4 - 3 + 1 + 2 - 3) // 3 + 1  # conv 3x3 padding 2, then max-pool 3, stride 3, padding 1
        pooled //= 2                                    # average pool 2
        super().__init__(16 * pooled * pooled, num_classes, sampler, k_neighbors)
        self.size = size
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(3, c, 3, padding=2), nn.ReLU(), nn.BatchNorm2d(c),
                          nn.MaxPool2d(3, stride=3, padding=1), nn.Dropout(dropout))
            for c in (3, 5, 8))
        self.avg = nn.AvgPool2d(2)

    def features(self, inputs):
        x = _uvs(inputs, self.size)
        return torch.flatten(self.avg(torch.cat([branch(x) for branch in self.branches], dim=1)), 1)


class OffApexNet(_Classifier):
    def __init__(self, num_classes: int = 3, size: int = 28, sampler: str = "none", k_neighbors: int = 5,
                 dropout: float = 0.5, hidden: int = 1024):
        super().__init__(hidden, num_classes, sampler, k_neighbors)
        self.size = size

        def stream():
            return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                 nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                 nn.Flatten())

        self.u, self.v = stream(), stream()
        flat = 2 * 16 * (size // 4) ** 2
        self.dense = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                   nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))

    def features(self, inputs):
        x = _uvs(inputs, self.size)
        return self.dense(torch.cat([self.u(x[:, :1]), self.v(x[:, 1:2])], dim=1))


class SSSNet(_Classifier):
    def __init__(self, num_classes: int = 3, size: int = 64, sampler: str = "none", k_neighbors: int = 5,
                 dropout: float = 0.5, channels: tuple[int, int, int] = (32, 64, 256)):
        h1, h2, h3 = channels
        side = ((size - 4) // 3 - 2) // 2  # conv 5 (no padding), pool 3/3, conv 3 (no padding), pool 2
        if side < 1:
            raise ValueError(f"SSSNet needs uvs images of at least 16 x 16 (images.uvs_size), got {size}")
        super().__init__(h3, num_classes, sampler, k_neighbors)
        self.size = size
        self.trunk = nn.Sequential(
            nn.Conv2d(3, h1, 5), nn.ReLU(), nn.MaxPool2d(3, stride=3), nn.BatchNorm2d(h1), nn.Dropout2d(dropout),
            nn.Conv2d(h1, h2, 3), nn.ReLU(), nn.MaxPool2d(2, stride=2), nn.BatchNorm2d(h2), nn.Dropout2d(dropout),
            nn.Flatten(), nn.Linear(h2 * side * side, h3), nn.ReLU(), nn.Dropout(dropout))

    def features(self, inputs):
        return self.trunk(_uvs(inputs, self.size))


class RCNA(_Classifier):
    def __init__(self, num_classes: int = 3, size: int = 64, sampler: str = "none", k_neighbors: int = 5,
                 dropout: float = 0.5, featuremaps: int = 64, pool: int = 5):
        if size < 8:
            raise ValueError(f"RCN-A needs uvs images of at least 8 x 8 (images.uvs_size), got {size}")
        super().__init__(featuremaps * pool * pool, num_classes, sampler, k_neighbors)
        self.size, self.pool, self.n_classes = size, pool, num_classes
        c = featuremaps
        self.conv1 = nn.Sequential(nn.Conv2d(3, c, 5), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Dropout(dropout))
        self.feedforward = nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU())
        self.recurrent = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.down = nn.Sequential(nn.MaxPool2d(2), nn.Dropout(dropout))
        self.avg = nn.AdaptiveAvgPool2d(pool)
        for m in self.modules():  # the authors' initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def _attention(self, maps: torch.Tensor) -> torch.Tensor:
        """Per class, the classifier's weights (as C x P x P) times the pooled maps, averaged over
        channels and min-max scaled per sample; the mean over classes (N x 1 x P x P)."""
        weights = self.classifier.weight.view(self.n_classes, *maps.shape[1:])
        cams = (weights[None] * maps[:, None]).mean(dim=2)  # N x classes x P x P
        low = cams.amin(dim=(2, 3), keepdim=True)
        cams = cams - low
        # the authors divide by the maximum as it is; a small floor keeps a flat map finite
        cams = cams / cams.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)
        return cams.mean(dim=1, keepdim=True)

    def features(self, inputs):
        x = self.conv1(_uvs(inputs, self.size))
        attention = self._attention(self.avg(x))
        y = self.feedforward(x)
        y = self.recurrent(x + y)
        y = self.recurrent(x + y)  # the same convolution again: the recurrence
        return torch.flatten(self.avg(self.down(y)) * attention, 1)


@register_model(streams=("uvs",))
def ststnet(num_classes: int = 3, uvs_size: int = 28, sampler: str = "none", k_neighbors: int = 5,
            dropout: float = 0.5) -> STSTNet:
    return STSTNet(num_classes, uvs_size, sampler, k_neighbors, dropout)


@register_model(streams=("uvs",))
def offapexnet(num_classes: int = 3, uvs_size: int = 28, sampler: str = "none", k_neighbors: int = 5,
               dropout: float = 0.5) -> OffApexNet:
    return OffApexNet(num_classes, uvs_size, sampler, k_neighbors, dropout)


@register_model(streams=("uvs",))
def sssnet(num_classes: int = 3, uvs_size: int = 64, sampler: str = "none", k_neighbors: int = 5,
           dropout: float = 0.5) -> SSSNet:
    return SSSNet(num_classes, uvs_size, sampler, k_neighbors, dropout)


@register_model(streams=("uvs",))
def rcna(num_classes: int = 3, uvs_size: int = 64, sampler: str = "none", k_neighbors: int = 5,
         dropout: float = 0.5) -> RCNA:
    return RCNA(num_classes, uvs_size, sampler, k_neighbors, dropout)
