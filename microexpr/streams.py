"""The stream images a sample is stored and fed as, registered once.

Each :class:`Stream` says how its image is made from one (optionally augmented) sample, at which side
(``images.size`` or ``images.uvs_size``), whether models read it, how its stored channels map to the
models' (the flow image is stored B, G, R as OpenCV writes it) and how it is normalised. The shard
writer stores every registered stream; the data loader and ``microexpr predict`` turn them into
tensors with these channels and statistics; MSCNN may take any input stream at the image size
(``train.streams``, whose choices the schema takes from here).

A new stream is one decorated function::

    @register_stream("edges", mean=(0.2,), std=(0.3,), description="Sobel magnitude of the apex")
    def edges(sample):
        return ...  # H x W (or H x W x C) uint8 at sample.apex's size
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .flow import (
    _to_uint8, apply_mask, flow_mask, flow_to_hsv, hsv_to_bgr, transform_flow, transform_image, uvs_image,
)


@dataclass(frozen=True)
class Sample:
    """What the streams of one sample are made from, after its augmentation: the flow field and the
    (magnified) apex gray image at the model size, the HSV flow rendering and its mask."""

    flow: np.ndarray     # H x W x 2 float32 (u, v)
    apex: np.ndarray     # H x W uint8
    hsv: np.ndarray      # H x W x 3 uint8, OpenCV's HSV: hue = direction, value = magnitude
    mask: np.ndarray     # H x W uint8, 0/255: value above images.threshold
    uvs_size: int        # side of the u/v/strain stream


@dataclass(frozen=True)
class Stream:
    """A registered stream: ``build(sample) -> uint8 image`` and how models read it."""

    name: str
    build: Callable[[Sample], np.ndarray]
    mean: tuple[float, ...] = ()   # per channel, on the 0..1 scale (empty: not a model input)
    std: tuple[float, ...] = ()
    bgr: bool = False              # stored B, G, R: reversed for the models
    side: str = "size"             # "size" (images.size) or "uvs_size"
    description: str = ""

    @property
    def model_input(self) -> bool:
        return bool(self.mean)

    @property
    def channels(self) -> int:
        return len(self.mean) or 1


STREAMS: dict[str, Stream] = {}


def register_stream(name: str, *, mean: tuple[float, ...] = (), std: tuple[float, ...] = (), bgr: bool = False,
                    side: str = "size", description: str = ""):
    """Decorator registering ``build(sample)`` as stream ``name`` (``mean`` and ``std`` per channel make it a
    model input; without them it is stored only, as the mask is)."""
    if len(mean) != len(std):
        raise ValueError(f"stream {name!r}: mean and std need one value per channel, got {mean} and {std}")
    if side not in ("size", "uvs_size"):
        raise ValueError(f"stream {name!r}: side must be 'size' or 'uvs_size', got {side!r}")

    def add(build):
        if name in STREAMS:
            raise ValueError(f"stream {name!r} is registered twice")
        STREAMS[name] = Stream(name, build, tuple(mean), tuple(std), bgr, side, description)
        return build

    return add


def image_streams() -> tuple[str, ...]:
    """The model-input streams at the image size: what MSCNN's trunks (``train.streams``) may read."""
    return tuple(n for n, s in STREAMS.items() if s.model_input and s.side == "size")


class StreamImages(dict):
    """The stream images of one sample, by stream name (also as attributes: ``s.flow``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


def stream_images(flow: np.ndarray, apex_gray: np.ndarray, *, threshold: int = 50,
                  max_magnitude: float | None = None, flip: bool = False, angle: float = 0.0,
                  uvs_size: int = 28) -> StreamImages:
    """Every registered stream of one (optionally augmented) sample; ``flow`` and ``apex_gray`` must
    already be at the model size (and, if wanted, without global motion). The augmentation moves the
    flow field itself (a flip negates u, a rotation turns (u, v)), and every stream is made from the
    moved field, so all streams agree."""
    f = transform_flow(flow, flip=flip, angle=angle)
    g = transform_image(_to_uint8(apex_gray), flip=flip, angle=angle)
    hsv = flow_to_hsv(f, max_magnitude=max_magnitude)
    sample = Sample(f, g, hsv, flow_mask(hsv, threshold), uvs_size)
    return StreamImages({name: stream.build(sample) for name, stream in STREAMS.items()})


def channels_first(stream: str, arr: np.ndarray) -> np.ndarray:
    """N stored images of ``stream`` (N x S x S, or N x S x S x C) as N x C x S x S in the models' channel order."""
    if arr.ndim == 3:
        return arr[:, None]
    return (arr[..., ::-1] if STREAMS[stream].bgr else arr).transpose(0, 3, 1, 2)


# The built-in streams. Normalisation: ImageNet statistics (the flow image is fed as RGB, so ImageNet
# weights fit); uvs: u and v are centred at mid-gray by construction, strain is skewed towards 0.

@register_stream("flow", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), bgr=True,
                 description="the HSV flow image (hue = direction, value = magnitude), stored as BGR")
def _flow(s: Sample) -> np.ndarray:
    return hsv_to_bgr(s.hsv)


@register_stream("gray", mean=(0.449,), std=(0.226,), description="the (magnified) apex gray image")
def _gray(s: Sample) -> np.ndarray:
    return s.apex


@register_stream("masked", mean=(0.449,), std=(0.226,), description="the apex gray image where the mask is set")
def _masked(s: Sample) -> np.ndarray:
    return apply_mask(s.apex, s.mask)


@register_stream("mask", description="0/255: the flow image's value above images.threshold (stored, not fed)")
def _mask(s: Sample) -> np.ndarray:
    return s.mask


@register_stream("uvs", mean=(0.5, 0.5, 0.15), std=(0.2, 0.2, 0.2), side="uvs_size",
                 description="u, v and optical strain at images.uvs_size (STSTNet, OFF-ApexNet, ...)")
def _uvs(s: Sample) -> np.ndarray:
    return uvs_image(s.flow, s.uvs_size)
