"""Dense optical flow onset -> apex, optical strain, the flow image, its mask and the masked apex.

Conventions:

* ``optical_flow(prev, next)`` returns H x W x 2 float32 ``(u, v)`` in pixels, ``u`` along x (columns),
  ``v`` along y (rows), such that ``next(x + u, y + v)`` matches ``prev(x, y)`` (OpenCV's convention).
* Flow image: HSV with hue = direction (OpenCV's 8-bit hue, 0..179 for 0..358 degrees, angle measured
  from +x towards +y, i.e. clockwise on screen), saturation 255, value = magnitude scaled to 0..255
  by the image's largest magnitude (or by a fixed ``max_magnitude`` in pixels); a pair without motion
  (largest magnitude below ``min_magnitude``) gives an all-black image. Stored converted to BGR.
* Mask: the flow image's **value channel** (the scaled magnitude) above ``threshold`` (default 50 of
  255, i.e. about 20 % of the largest motion), as 0/255 uint8. The mask does not depend on direction.
* Masked apex: the apex gray image where the mask is set, 0 elsewhere.
* Global motion: EVM magnifies small head motion along with the expression; by default the shard
  stage subtracts the median flow vector (a global translation) before rendering, so the mask
  follows the facial movement (:func:`remove_global_motion`; the paper does not do this).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FlowMethod:
    """A registered flow method: its parameters' defaults (the configuration's ``flow.<name>`` section
    takes these keys and no others) and ``build(**params) -> f(prev, next) -> H x W x 2``."""

    name: str
    defaults: dict
    build: Callable
    description: str = ""


FLOW_METHODS: dict[str, FlowMethod] = {}


def register_flow(name: str, *, defaults: dict, description: str = ""):
    """Decorator registering ``build(**params)`` as flow method ``name`` (``flow.method`` in the
    configuration). ``build`` receives the defaults updated with the configured values and returns
    ``f(prev, next)``: gray or BGR frames in, H x W x 2 float32 ``(u, v)`` out in the module's convention.
    The schema lists the registered methods and their parameters (a test compares them)."""
    def add(build):
        if name in FLOW_METHODS:
            raise ValueError(f"flow method {name!r} is registered twice")
        FLOW_METHODS[name] = FlowMethod(name, dict(defaults), build, description)
        return build

    return add


def flow_methods() -> tuple[str, ...]:
    """The registered flow method names, in registration order."""
    return tuple(FLOW_METHODS)


def _as_gray(img: np.ndarray) -> np.ndarray:
    import cv2

    img = np.asarray(img)
    if img.ndim == 3:
        if img.dtype != np.uint8:
            img = img.astype(np.float32)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim != 2:
        raise ValueError(f"expected a gray (H x W) or BGR (H x W x 3) image, got shape {img.shape}")
    return img


def _to_unit_float(img: np.ndarray) -> np.ndarray:
    """Gray image on 0..1 float32 (TV-L1 takes floats on that scale, keeping sub-level precision)."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    img = img.astype(np.float32)
    return img / 255.0 if img.max() > 1.0 else img


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float32)
    if img.max() <= 1.0:
        img = img * 255.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_flow_estimator(method: str = "tvl1", max_height: int | None = None, min_height: int | None = None,
                        **params):
    """Return ``f(prev, next) -> H x W x 2``; build once, call per pair (OpenCV objects are reused).

    A working height: frames taller than ``max_height`` are reduced to it (area interpolation), frames
    shorter than ``min_height`` enlarged to it (bilinear; for flows whose window is in pixels), aspect
    kept, before the flow is computed; the field is then resized back to the frames' size with its vectors
    scaled, so it is in the frames' pixels either way (``flow.max_height`` of the configuration; None:
    the frames' size)."""
    estimate = _estimator(method, **params)
    if max_height is None and min_height is None:
        return estimate
    for name, value in (("max_height", max_height), ("min_height", min_height)):
        if value is not None and int(value) < 8:
            raise ValueError(f"{name} must be at least 8 rows, got {value}")
    import cv2

    def at_working_size(a, b):
        h, w = np.shape(a)[:2]
        target = min(h, max_height) if max_height is not None else h
        target = max(target, min_height) if min_height is not None else target
        if target == h:
            return estimate(a, b)
        size = (max(1, round(w * target / h)), int(target))
        interp = cv2.INTER_AREA if target < h else cv2.INTER_LINEAR
        pair = [cv2.resize(np.asarray(x), size, interpolation=interp) for x in (a, b)]
        return resize_flow(np.ascontiguousarray(estimate(*pair), dtype=np.float32), (h, w))

    return at_working_size


def _estimator(method: str, **params):
    if method not in FLOW_METHODS:
        raise ValueError(f"flow method must be one of {flow_methods()}, got {method!r}")
    spec = FLOW_METHODS[method]
    unknown = set(params) - set(spec.defaults)
    if unknown:
        raise ValueError(f"unknown {method} parameter(s) {sorted(unknown)}; known: {sorted(spec.defaults)}")
    return spec.build(**{**spec.defaults, **params})


# IPOL (Sanchez et al. 2013) values used by ME peers; OpenCV's own scaleStep default is 0.8.
@register_flow("tvl1", description="Dual TV-L1 (opencv-contrib); defaults are the IPOL values",
               defaults=dict(tau=0.25, lambda_=0.15, theta=0.3, nscales=5, warps=5, epsilon=0.01, scale_step=0.5,
                             inner_iterations=30, outer_iterations=10, median_filtering=5))
def _tvl1(**p):
    import cv2

    algo = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=p["tau"], lambda_=p["lambda_"], theta=p["theta"], nscales=p["nscales"], warps=p["warps"],
        epsilon=p["epsilon"], innnerIterations=p["inner_iterations"], outerIterations=p["outer_iterations"],
        scaleStep=p["scale_step"], medianFiltering=p["median_filtering"])
    return lambda a, b: algo.calc(_to_unit_float(_as_gray(a)), _to_unit_float(_as_gray(b)), None)


_DIS_PRESETS = ("ultrafast", "fast", "medium")


@register_flow("dis", defaults=dict(preset="medium"),
               description="DIS (Kroeger et al. 2016) at one of OpenCV's presets")
def _dis(preset):
    import cv2

    if preset not in _DIS_PRESETS:
        raise ValueError(f"dis preset must be one of {_DIS_PRESETS}, got {preset!r}")
    algo = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
    return lambda a, b: algo.calc(_to_uint8(_as_gray(a)), _to_uint8(_as_gray(b)), None)


# The values of OpenCV's dense optical flow tutorial for calcOpticalFlowFarneback.
@register_flow("farneback", description="Farneback's polynomial expansion (OpenCV)",
               defaults=dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2))
def _farneback(**p):
    import cv2

    return lambda a, b: cv2.calcOpticalFlowFarneback(
        _to_uint8(_as_gray(a)), _to_uint8(_as_gray(b)), None, p["pyr_scale"], p["levels"], p["winsize"],
        p["iterations"], p["poly_n"], p["poly_sigma"], 0)


def optical_flow(prev: np.ndarray, next: np.ndarray, method: str = "tvl1", **params) -> np.ndarray:
    """Dense flow from ``prev`` to ``next`` (gray or BGR; uint8 0..255 or float 0..1 / 0..255)."""
    if np.shape(prev)[:2] != np.shape(next)[:2]:
        raise ValueError(f"image sizes differ: {np.shape(prev)} vs {np.shape(next)}")
    flow = make_flow_estimator(method, **params)(prev, next)
    return np.ascontiguousarray(flow, dtype=np.float32)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """``sqrt(ux^2 + vy^2 + 0.5 (uy + vx)^2)`` with central differences (H x W float32)."""
    u, v = flow[..., 0], flow[..., 1]
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    return np.sqrt(ux**2 + vy**2 + 0.5 * (uy + vx) ** 2).astype(np.float32)


def flow_to_hsv(flow: np.ndarray, *, max_magnitude: float | None = None,
                min_magnitude: float = 1e-3) -> np.ndarray:
    """The HSV flow image (H x W x 3 uint8, OpenCV's 8-bit HSV)."""
    import cv2

    mag, ang = cv2.cartToPolar(flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32),
                               angleInDegrees=True)
    scale = float(mag.max()) if max_magnitude is None else float(max_magnitude)
    hsv = np.zeros(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = np.round(ang / 2.0).astype(np.uint16) % 180
    hsv[..., 1] = 255
    if scale >= min_magnitude:
        hsv[..., 2] = np.clip(np.rint(mag / scale * 255.0), 0, 255).astype(np.uint8)
    return hsv


def colour_key(size: int = 96) -> np.ndarray:
    """The flow image's colour key (BGR uint8, size x size): the flow image of a field pointing away from
    the centre, as long as its distance from it, so each direction shows its hue and brightness grows with
    the magnitude (outside the disc: black)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
    field = np.stack([xx, yy], axis=-1)
    field[np.hypot(xx, yy) > size / 2] = 0
    return hsv_to_bgr(flow_to_hsv(field))


def hsv_to_bgr(hsv: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def flow_mask(hsv: np.ndarray, threshold: int = 50) -> np.ndarray:
    """0/255 mask where the flow image's value channel exceeds ``threshold``."""
    return np.where(hsv[..., 2] > threshold, 255, 0).astype(np.uint8)


def apply_mask(gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask > 0, gray, 0).astype(gray.dtype)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a flow field to (height, width), scaling the vectors with the image."""
    import cv2

    h, w = flow.shape[:2]
    th, tw = size
    out = cv2.resize(flow, (tw, th), interpolation=cv2.INTER_AREA if th < h else cv2.INTER_LINEAR)
    out[..., 0] *= tw / w
    out[..., 1] *= th / h
    return out


# ----------------------------------------------------------------------------- augmentation

AUGMENTATIONS: tuple[tuple[bool, float], ...] = tuple(
    (flip, angle) for flip in (False, True) for angle in (0.0, 5.0, -5.0, 10.0, -10.0)
)  # index 0 is the original sample


def augmentations(augment: bool = True) -> tuple[tuple[bool, float], ...]:
    """All ten augmentations, or only the original (index 0) when ``augment`` is off."""
    return AUGMENTATIONS if augment else AUGMENTATIONS[:1]


def _rotation(h: int, w: int, angle: float) -> np.ndarray:
    """2 x 3 matrix rotating by ``angle`` degrees about the image centre (as cv2.getRotationMatrix2D)."""
    import cv2

    return cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)


def transform_flow(flow: np.ndarray, *, flip: bool, angle: float) -> np.ndarray:
    """Mirror (x -> -x, so u -> -u) and/or rotate a flow field by ``angle`` degrees about the centre,
    moving both the positions and the vectors (counter-clockwise on screen for positive angles, as
    ``cv2.getRotationMatrix2D``)."""
    import cv2

    out = flow[:, ::-1].copy() if flip else flow.copy()
    if flip:
        out[..., 0] *= -1
    if angle:
        h, w = out.shape[:2]
        m = _rotation(h, w, angle)
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
        rot = m[:, :2]  # the same linear map applied to the vectors
        u, v = out[..., 0].copy(), out[..., 1].copy()
        out[..., 0] = rot[0, 0] * u + rot[0, 1] * v
        out[..., 1] = rot[1, 0] * u + rot[1, 1] * v
    return out


FLOW_CHANNELS = ("u", "v", "strain", "magnitude")  # what the channels of an image-encoded flow may be


def transform_encoded_flow(img: np.ndarray, channels, zero: float, *, flip: bool, angle: float) -> np.ndarray:
    """Mirror and/or rotate a flow *image* (H x W x 3, channels named by ``channels`` in the array's order,
    u and v stored as ``zero`` + motion in gray levels) as the motion itself would be: positions move, u
    and v turn with them (a mirror negates u), scalar channels (strain, magnitude) only move. Equals the
    encoding of the transformed field (tested); values beyond 0..255 are clipped."""
    names = list(channels)
    if len(names) != img.shape[-1] or "u" not in names or "v" not in names:
        raise ValueError(f"flow channels {names} must name each of the image's {img.shape[-1]} channels, u and v among them")
    iu, iv = names.index("u"), names.index("v")
    field = np.stack([img[..., iu], img[..., iv]], axis=-1).astype(np.float32) - zero
    turned = transform_flow(field, flip=flip, angle=angle)
    out = np.empty_like(img)
    for k in range(img.shape[-1]):
        if k not in (iu, iv):
            out[..., k] = transform_image(np.ascontiguousarray(img[..., k]), flip=flip, angle=angle)
    out[..., iu] = np.clip(np.rint(turned[..., 0] + zero), 0, 255)
    out[..., iv] = np.clip(np.rint(turned[..., 1] + zero), 0, 255)
    return out


def transform_image(img: np.ndarray, *, flip: bool, angle: float) -> np.ndarray:
    import cv2

    out = img[:, ::-1].copy() if flip else img.copy()
    if angle:
        h, w = out.shape[:2]
        m = _rotation(h, w, angle)
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return out


def uvs_image(flow: np.ndarray, size: int = 28) -> np.ndarray:
    """The u/v/optical-strain input of STSTNet and OFF-ApexNet: the flow field resized to ``size`` (vectors
    scaled with it), strain computed at that size, each sample normalised on its own as uint8: u and v
    share one scale (their largest absolute value maps to 0 or 255, zero motion to 128, so directions
    survive), strain from 0 to its largest value at 255. A still sample is 128, 128, 0."""
    f = resize_flow(np.asarray(flow, np.float32), (size, size))
    strain = optical_strain(f)
    peak = float(np.abs(f).max())
    uv = np.full(f.shape, 128.0, np.float32) if peak < 1e-6 else 127.5 + 127.5 * f / peak
    s = np.zeros_like(strain) if float(strain.max()) < 1e-9 else 255.0 * strain / float(strain.max())
    out = np.dstack([uv, s[..., None]])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def remove_global_motion(flow: np.ndarray, how: str = "median") -> np.ndarray:
    """Subtract the global (head) translation: the median flow vector (``"median"``), or nothing."""
    if how == "none":
        return flow
    if how == "median":
        return (flow - np.median(flow.reshape(-1, 2), axis=0)).astype(np.float32)
    raise ValueError(f"global motion removal must be 'median' or 'none', got {how!r}")
