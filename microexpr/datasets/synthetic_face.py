"""The synthetic datasets' faces: one subject's procedurally drawn face (shape, proportions, skin level,
colour, texture and background differ), with its landmarks in pixels, and the same face pasted on a
larger scene (an uncropped frame)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Landmarks in face coordinates: x right, y down, the face ellipse is the unit circle.
LANDMARKS: dict[str, tuple[float, float]] = {
    "brow_inner_l": (-0.20, -0.43), "brow_inner_r": (0.20, -0.43),
    "brow_outer_l": (-0.55, -0.44), "brow_outer_r": (0.55, -0.44),
    "eye_l": (-0.36, -0.24), "eye_r": (0.36, -0.24),
    "lid_upper_l": (-0.36, -0.30), "lid_upper_r": (0.36, -0.30),
    "lid_lower_l": (-0.36, -0.16), "lid_lower_r": (0.36, -0.16),
    "cheek_l": (-0.50, 0.12), "cheek_r": (0.50, 0.12),
    "nose_wing_l": (-0.14, 0.18), "nose_wing_r": (0.14, 0.18),
    "lip_upper": (0.0, 0.44), "lip_lower": (0.0, 0.58),
    "mouth_corner_l": (-0.30, 0.50), "mouth_corner_r": (0.30, 0.50),
    "chin": (0.0, 0.80),
}


@dataclass
class Face:
    """One subject's appearance."""

    cx: float
    cy: float
    a: float                      # half-width of the face ellipse, px
    b: float                      # half-height, px
    landmarks: dict[str, tuple[float, float]] = field(repr=False)  # pixel coordinates
    image: np.ndarray = field(repr=False)  # H x W x C float32, 0..255


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    import cv2

    n = rng.standard_normal(shape).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / (n.std() + 1e-6)


def _to_px(face_xy: tuple[float, float], cx: float, cy: float, a: float, b: float) -> tuple[float, float]:
    return cx + face_xy[0] * a, cy + face_xy[1] * b


def _draw_features(albedo: np.ndarray, px: dict, rng: np.random.Generator, cx: float, a: float, b: float,
                   skin: float, s: int) -> None:
    """Brows, eyes, nostrils, cheek shadows, nose ridge, lips and chin crease into ``albedo`` (supersampled x ``s``)."""
    import cv2

    def P(name, dx=0.0, dy=0.0):
        x, y = px[name]
        return int(round((x + dx) * s)), int(round((y + dy) * s))

    dark = rng.uniform(0.25, 0.45) * skin
    ew, eh = a * rng.uniform(0.17, 0.22), b * rng.uniform(0.06, 0.08)
    for side in ("l", "r"):
        # brow: a thick arc from outer to inner landmark
        xi, yi = px[f"brow_inner_{side}"]
        xo, yo = px[f"brow_outer_{side}"]
        bx, by = (xi + xo) / 2, (yi + yo) / 2 - 0.02 * b
        half = int(abs(xo - xi) / 2 * s)
        cv2.ellipse(albedo, (int(bx * s), int(by * s)), (half, int(0.05 * b * s)), 0, 180, 360,
                    dark, int(max(2, 0.045 * b * s)))
        # eye: sclera, iris, pupil, lid line
        ex, ey = P(f"eye_{side}")
        cv2.ellipse(albedo, (ex, ey), (int(ew * s), int(eh * s)), 0, 0, 360, min(235.0, skin + 60), -1)
        cv2.circle(albedo, (ex, ey), int(eh * 0.95 * s), dark * 0.9, -1)
        cv2.circle(albedo, (ex, ey), int(eh * 0.45 * s), 15.0, -1)
        cv2.ellipse(albedo, (ex, ey), (int(ew * s), int(eh * s)), 0, 180, 360, dark * 0.6, max(2, s))
        cv2.ellipse(albedo, (ex, ey + int(0.5 * eh * s)), (int(ew * 0.9 * s), int(eh * 1.4 * s)), 0, 20, 160,
                    skin * 0.8, max(1, s))
        # nostril
        nx, ny = P(f"nose_wing_{side}")
        cv2.ellipse(albedo, (nx, ny), (int(0.05 * a * s), int(0.03 * b * s)), 0, 0, 360, dark, -1)
        # cheek shadow
        ccx, ccy = P(f"cheek_{side}", dy=0.1 * b)
        cv2.ellipse(albedo, (ccx, ccy), (int(0.12 * a * s), int(0.05 * b * s)), 0, 0, 360, skin * 0.88, -1)
    # nose ridge shading
    top, tip = P("brow_inner_l"), P("nose_wing_l")
    cv2.line(albedo, (int(cx * s - 0.07 * a * s), top[1] + int(0.15 * b * s)), (tip[0], tip[1] - int(0.04 * b * s)),
             skin * 0.85, max(2, s))
    # mouth: lips between the corners, a dark line between them
    lip = rng.uniform(0.6, 0.8) * skin
    (lx, ly), (rx, ry) = P("mouth_corner_l"), P("mouth_corner_r")
    ux, uy = P("lip_upper")
    dx_, dy_ = P("lip_lower")
    mx, my = (lx + rx) // 2, (ly + ry) // 2
    cv2.ellipse(albedo, (mx, my), ((rx - lx) // 2, max(2, my - uy)), 0, 180, 360, lip, -1)
    cv2.ellipse(albedo, (mx, my), ((rx - lx) // 2, max(2, dy_ - my)), 0, 0, 180, lip * 1.05, -1)
    cv2.line(albedo, (lx, ly), (rx, ry), dark * 0.7, max(2, s))
    # chin crease
    chx, chy = P("chin", dy=-0.08 * b)
    cv2.ellipse(albedo, (chx, chy), (int(0.12 * a * s), int(0.03 * b * s)), 0, 200, 340, skin * 0.8, max(1, s))


def make_face(rng: np.random.Generator, height: int, width: int, channels: int) -> Face:
    """Draw one subject's face (supersampled x2, then area-downsampled and lightly blurred)."""
    import cv2

    s = 2  # supersampling
    H, W = height * s, width * s
    cx = width * (0.5 + rng.normal(0, 0.015))
    cy = height * (0.52 + rng.normal(0, 0.015))
    a = width * rng.uniform(0.36, 0.43)
    b = height * rng.uniform(0.39, 0.45)
    marks = {k: (x + rng.normal(0, 0.025), y + rng.normal(0, 0.025)) for k, (x, y) in LANDMARKS.items()}
    px = {k: _to_px(v, cx, cy, a, b) for k, v in marks.items()}

    skin = rng.uniform(105, 185)
    bg = rng.uniform(30, 225)
    tint = np.array([rng.uniform(0.72, 0.9), rng.uniform(0.84, 0.96), 1.0]) if channels == 3 else np.ones(1)
    bg_tint = rng.uniform(0.8, 1.1, size=3) if channels == 3 else np.ones(1)

    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    gray = bg + 25 * (xx / W - 0.5) * rng.choice([-1, 1]) + 12 * _smooth_noise(rng, (H, W), 12 * s)
    face_mask = np.zeros((H, W), np.float32)
    cv2.ellipse(face_mask, (int(cx * s), int(cy * s)), (int(a * s), int(b * s)), 0, 0, 360, 1.0, -1)
    face_mask = cv2.GaussianBlur(face_mask, (0, 0), 1.5 * s)
    shading = 1.0 - 0.18 * ((xx / s - cx) ** 2 / a**2 + (yy / s - cy) ** 2 / b**2)
    texture = 7 * _smooth_noise(rng, (H, W), 3.0 * s) + 3 * _smooth_noise(rng, (H, W), 6.0 * s)
    skin_img = skin * shading + texture
    albedo = face_mask * skin_img + (1 - face_mask) * gray

    _draw_features(albedo, px, rng, cx, a, b, skin, s)

    small = cv2.resize(albedo, (width, height), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 0.6)
    if channels == 3:
        fmask = cv2.resize(face_mask, (width, height), interpolation=cv2.INTER_AREA)[..., None]
        colour = fmask * tint[None, None, :] + (1 - fmask) * bg_tint[None, None, :]
        img = small[..., None] * colour
    else:
        img = small[..., None]
    return Face(cx=cx, cy=cy, a=a, b=b, landmarks=px, image=np.clip(img, 0, 255).astype(np.float32))


def embed_face(face: Face, rng: np.random.Generator, scale: float = 2.0) -> Face:
    """The face image pasted at a random place on a larger textured scene (an uncropped frame)."""
    h, w, c = face.image.shape
    H, W = int(round(h * scale)), int(round(w * scale))
    scene = rng.uniform(40, 200) + 30 * _smooth_noise(rng, (H, W), 10.0)
    canvas = np.repeat(np.clip(scene, 0, 255)[..., None], c, axis=2).astype(np.float32)
    oy, ox = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
    canvas[oy : oy + h, ox : ox + w] = face.image
    marks = {k: (x + ox, y + oy) for k, (x, y) in face.landmarks.items()}
    return Face(cx=face.cx + ox, cy=face.cy + oy, a=face.a, b=face.b, landmarks=marks, image=canvas)
