"""ResNet-18 (BasicBlock, [2, 2, 2, 2]) written so that, at width 64 with 3 input channels, its
state_dict keys and shapes are those of torchvision's ``resnet18``: ImageNet weights saved from
torchvision load with :func:`load_torchvision_weights` (a local file; nothing is downloaded, and
torchvision itself is never imported)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .registry import register_model


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), four stages of BasicBlocks, global average pool.

    ``num_classes=None`` leaves out the ``fc`` head (a feature trunk: ``forward`` returns the pooled
    ``8 * width`` features)."""

    def __init__(self, layers=(2, 2, 2, 2), in_channels: int = 3, width: int = 64, num_classes: int | None = 1000):
        super().__init__()
        self.out_features = 8 * width
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        planes, stages = width, []
        inplanes = width
        for i, blocks in enumerate(layers):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(inplanes, planes, stride)] + [BasicBlock(planes, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            inplanes, planes = planes, planes * 2
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.out_features, num_classes) if num_classes else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x) if self.fc is not None else x


@register_model
def resnet18(in_channels: int = 3, width: int = 64, num_classes: int | None = 1000) -> ResNet:
    return ResNet((2, 2, 2, 2), in_channels=in_channels, width=width, num_classes=num_classes)


def load_torchvision_weights(model: ResNet, path: str | Path) -> list[str]:
    """Load a torchvision ResNet-18 state_dict saved to ``path`` into ``model`` (a trunk or a full net).

    The classifier (``fc``) is skipped. For a trunk whose first convolution takes other than 3 channels,
    the RGB filters are averaged (1 channel) or repeated/scaled. Returns the keys that were loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.state_dict()
    loaded = {}
    for key, value in state.items():
        if key.startswith("fc.") or key not in own:
            continue
        if key == "conv1.weight" and value.shape[1] != own[key].shape[1]:
            cin = own[key].shape[1]
            mean = value.mean(dim=1, keepdim=True)
            value = mean.repeat(1, cin, 1, 1) * (3.0 / cin) if cin != 1 else mean
        if value.shape != own[key].shape:
            raise ValueError(f"{path}: {key} has shape {tuple(value.shape)}, the model expects {tuple(own[key].shape)} "
                             "(pretrained weights need width 64)")
        loaded[key] = value
    missing = [k for k in own if k not in loaded and not k.startswith("fc.")]
    if missing:
        raise ValueError(f"{path}: not a ResNet-18 state_dict (missing {missing[:3]}...)")
    model.load_state_dict({**own, **loaded})
    return sorted(loaded)
