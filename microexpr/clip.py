"""One clip's way to the model's inputs, written once.

:func:`process_clip` runs the whole chain on a clip's frames: EVM (:func:`magnify`) -> the onset -> apex
optical flow (:func:`flow_field`) -> every registered stream image at the model size, the original and,
for training, its x10 augmentations (:func:`clip_streams`; :mod:`microexpr.streams`). ``microexpr predict``
calls it; the workflow runs the same steps one cached file at a time
(:func:`microexpr.preprocess.magnify_subject`, ``flow_subject``, ``shard_subject``), and a
bring-your-own row enters at the step its files allow (onset and apex frames: :func:`flow_field`; a
flow image: :func:`clip_streams` or :func:`encoded_streams`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .flow import (
    augmentations, make_flow_estimator, remove_global_motion, resize_flow, transform_encoded_flow, transform_image,
)
from .magnify import EVMSettings, magnify_uint8
from .settings import setting
from .streams import STREAMS, StreamImages, stream_images


@dataclass(frozen=True)
class ImageSettings:
    """The ``images`` section of the configuration: how a clip's flow and apex become the model's
    stream images. The only place its settings are written (the schema's ``images`` block is made from
    these fields: ``microexpr schema``)."""

    size: int = setting(224, "model input size (the paper uses 224)", minimum=16)
    threshold: int = setting(50, "mask = flow image's HSV value channel (scaled magnitude) above this", minimum=0,
                             maximum=254)
    max_magnitude: float | None = setting(None, "pixels mapped to full brightness; null = each image's largest "
                                                "magnitude", exclusiveMinimum=0)
    global_motion: str = setting("median", "subtract the median flow vector (head translation) before rendering; "
                                           "none = as the paper", choices=("median", "none"))
    augment: bool = setting(True, "x10 (flip x rotations 0, +-5, +-10 degrees)")
    uvs_size: int = setting(28, "side of the u/v/optical-strain stream (STSTNet, OFF-ApexNet: 28)", minimum=8)


@dataclass(frozen=True)
class FlowSettings:
    """The ``flow`` section: the method, its parameters (``flow.<method>``) and an optional working height."""

    method: str = "tvl1"
    params: dict = field(default_factory=dict)
    max_height: int | None = None

    @classmethod
    def from_section(cls, flow: Mapping | None) -> "FlowSettings":
        flow = dict(flow or {})
        method = flow.get("method", cls.method)
        return cls(method, dict(flow.get(method) or {}), flow.get("max_height"))

    def estimator(self):
        """``f(prev, next) -> H x W x 2`` (see :func:`microexpr.flow.make_flow_estimator`)."""
        return make_flow_estimator(self.method, max_height=self.max_height, **self.params)


@dataclass(frozen=True)
class ClipSettings:
    """Everything that makes a clip's model inputs: a run's (or a model bundle's) ``evm``, ``flow`` and
    ``images`` sections, with their defaults where a section lacks a key."""

    evm: EVMSettings = field(default_factory=EVMSettings)
    flow: FlowSettings = field(default_factory=FlowSettings)
    images: ImageSettings = field(default_factory=ImageSettings)

    @classmethod
    def from_sections(cls, settings: Mapping) -> "ClipSettings":
        return cls(EVMSettings(**(settings.get("evm") or {})), FlowSettings.from_section(settings.get("flow")),
                   ImageSettings(**(settings.get("images") or {})))


def magnify(frames: np.ndarray, fps: float, evm: EVMSettings) -> np.ndarray:
    """EVM of one clip's frames as the pipeline stores them: uint8, rounded (``pad_frames`` is the
    caller's: the frames given are the ones filtered)."""
    return magnify_uint8(frames, fps, **evm.filter_kwargs())


def flow_field(onset: np.ndarray, apex: np.ndarray, estimate) -> np.ndarray:
    """The onset -> apex flow (H x W x 2 float32, at the frames' size) by ``estimate`` (:meth:`FlowSettings.estimator`)."""
    return np.ascontiguousarray(estimate(onset, apex), dtype=np.float32)


def clip_streams(flow: np.ndarray, apex: np.ndarray, images: ImageSettings, *,
                 augment: bool | None = None) -> list[StreamImages]:
    """One sample's stream images at the model size from its onset -> apex flow field and (magnified)
    apex gray frame at any size, the original first and then its augmentations (``augment``: default
    ``images.augment``): what the shards hold, and what ``microexpr predict`` feeds a trained model."""
    import cv2

    size = images.size
    flow = remove_global_motion(resize_flow(flow, (size, size)), images.global_motion)
    apex = cv2.resize(apex, (size, size), interpolation=cv2.INTER_AREA)
    return [stream_images(flow, apex, threshold=images.threshold, max_magnitude=images.max_magnitude, flip=flip,
                          angle=angle, uvs_size=images.uvs_size)
            for flip, angle in augmentations(images.augment if augment is None else augment)]


def encoded_streams(flow_img: np.ndarray, apex: np.ndarray, mask: np.ndarray, uvs_img: np.ndarray,
                    augment: bool, flow_channels=None, flow_zero: float = 128) -> list[StreamImages]:
    """Augmented streams of a flow given as an image (BGR as read, at the model size; ``uvs_img`` the same
    image as RGB at the uvs size), for flows made elsewhere. With ``flow_channels`` (the R, G, B channels'
    meaning, u and v stored as ``flow_zero`` + motion), a mirror negates u and a rotation turns (u, v) as
    for computed flow; without it the motion cannot be turned, so mirrored samples (whose motion no
    expression has) are left out and only the rotations are kept. Only the built-in streams can be made
    from an image (a registered stream is built from a flow field)."""
    extra = sorted(set(STREAMS) - {"flow", "gray", "masked", "mask", "uvs"})
    if extra:
        raise ValueError(f"stream(s) {extra} need a flow field; a flow given as an image (dataset.flow_encoding: "
                         "image) makes only flow, gray, masked, mask and uvs")
    out = []
    for flip, angle in augmentations(augment):
        if flow_channels is None and flip:
            continue
        if flow_channels is not None:
            f = transform_encoded_flow(flow_img[..., ::-1], flow_channels, flow_zero, flip=flip, angle=angle)[..., ::-1]
            u = transform_encoded_flow(uvs_img, flow_channels, flow_zero, flip=flip, angle=angle)
        else:
            f = transform_image(flow_img, flip=flip, angle=angle)
            u = transform_image(uvs_img, flip=flip, angle=angle)
        g = transform_image(apex, flip=flip, angle=angle)
        m = np.where(transform_image(mask, flip=flip, angle=angle) > 127, 255, 0).astype(np.uint8)
        out.append(StreamImages(flow=np.ascontiguousarray(f), gray=g, masked=np.where(m > 0, g, 0).astype(np.uint8),
                                mask=m, uvs=np.ascontiguousarray(u)))
    return out


@dataclass
class ClipImages:
    """What :func:`process_clip` made of a clip: its magnified frames, the onset -> apex flow field and
    the stream images (the original first)."""

    magnified: np.ndarray
    flow: np.ndarray
    streams: list[StreamImages]


def process_clip(frames: np.ndarray, fps: float, onset: int, apex: int, settings: ClipSettings, *,
                 augment: bool = False, estimate=None) -> ClipImages:
    """A clip's frames (gray, T x H x W; ``onset`` and ``apex`` index them) -> its model inputs, as the
    workflow's stages make them. ``estimate``: a flow estimator already built from ``settings.flow``
    (building one costs more than a pair of small frames)."""
    magnified = magnify(frames, fps, settings.evm)
    flow = flow_field(magnified[onset], magnified[apex], estimate or settings.flow.estimator())
    return ClipImages(magnified, flow, clip_streams(flow, magnified[apex], settings.images, augment=augment))


def without_global_motion(images: ImageSettings) -> ImageSettings:
    """``images`` for a flow whose head motion is already removed (or was never known)."""
    return replace(images, global_motion="none")
