"""Face quality filters for the dataset builder: the course's rules, measured and recorded per face.

Every measurement is a plain float so the manifest can record it and a person can re-threshold
later. All image inputs are RGB uint8 (H, W, 3); points are float64 (N, 2) (x, y), y down.

Scales (docs/DATASET.md repeats these):
- ``eye_tilt``: angle of the line from the image-left eye centre to the image-right eye centre,
  degrees in (-180, 180]; 0 = level, upside-down faces read near ±180.
- ``face_fraction``: share of the output crop's pixels backed by plate pixels:
  (crop side in source pixels / output size)², capped at 1. Under 0.40 the face covers less than
  40 % of the crop at its native resolution, i.e. the crop is mostly upsampled.
- ``sharpness``: variance of the Laplacian of the aligned crop's luma, resampled (area) to a
  fixed 256² analysis size, central 60 % (the face, not the background), divided by the
  region's luma variance and multiplied by 1000 — "normalised" so contrast and exposure do not
  move it. Sharp faces read ~40-500; a Gaussian blur of sigma 1.2 px at the 256² scale reads ~15-20,
  sigma 2 ~6-9; the course's threshold 20-30 separates them; default 25.
- ``yaw``/``pitch``/``roll``: degrees from cv2.solvePnP of 14 landmarks on a generic 3-D face;
  yaw 0 = frontal, ±90 = full profile. When the detector's 5 points are known, ``yaw`` and
  ``eye_tilt`` take the larger-magnitude of the 68-point and the 5-point estimates (a 68-point
  regressor is biased towards an upright frontal shape and reads a profile as frontal).
- ``occlusion``: 0..1 skin-colour inconsistency between the two face halves (see ``occlusion``).
- ``incomplete``: share of the crop's face ellipse outside the source image (face cut by the frame).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import cv2
import numpy as np

ANALYSIS_SIZE = 256

# Generic 3-D face (mm) in camera-like axes: x image-right, y down, z away from the camera, so
# a frontal face gives R ~ identity. iBUG-68 indices → point. Approximate adult proportions.
_MODEL_IDX = np.array([0, 4, 8, 12, 16, 27, 30, 33, 36, 39, 42, 45, 48, 54])
_MODEL_3D = np.array([
    [-70.0, -28.0, 95.0],   # 0 jaw at ear level, image-left
    [-62.0, 30.0, 75.0],    # 4 jaw, lower
    [0.0, 75.0, 20.0],      # 8 chin
    [62.0, 30.0, 75.0],     # 12
    [70.0, -28.0, 95.0],    # 16
    [0.0, -35.0, 20.0],     # 27 nasion
    [0.0, 0.0, 0.0],        # 30 nose tip
    [0.0, 12.0, 12.0],      # 33 subnasale
    [-45.0, -35.0, 30.0],   # 36 outer eye corner, image-left
    [-15.0, -34.0, 25.0],   # 39 inner eye corner
    [15.0, -34.0, 25.0],    # 42
    [45.0, -35.0, 30.0],    # 45
    [-25.0, 32.0, 22.0],    # 48 mouth corner
    [25.0, 32.0, 22.0],     # 54
], dtype=np.float64)

REASONS = ("undersize", "small", "tilt", "profile", "occluded", "blur", "duplicate")  # report order


@dataclass
class FilterSettings:
    """Thresholds; the defaults are the course's rules. ``None`` disables a rule."""

    max_tilt: Optional[float] = 30.0          # |eye-line angle| in degrees
    min_face_fraction: Optional[float] = 0.40  # see module doc
    min_sharpness: Optional[float] = 25.0
    max_yaw: Optional[float] = 70.0            # beyond: profile / back of head
    max_pitch: Optional[float] = 60.0
    max_occlusion: Optional[float] = 0.85      # covered half (skin colour) or flat eye/mouth
    max_incomplete: Optional[float] = 0.15     # share of the face ellipse outside the image
    dedupe_hash: Optional[int] = 6             # dHash Hamming distance at or below → near-duplicate
    dedupe_embedding: float = 0.25             # ... and embedding distance below this (if present)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FilterSettings":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def eye_centres(landmarks68: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image-left eye centre, image-right eye centre) from iBUG-68 (points 36-41 and 42-47)."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    return lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)


def eye_tilt(landmarks68: np.ndarray) -> float:
    """Eye-line angle in degrees, (-180, 180]; positive = image-right eye lower (y down)."""
    left, right = eye_centres(landmarks68)
    d = right - left
    return float(np.degrees(np.arctan2(d[1], d[0])))


def head_pose(landmarks68: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from solvePnP on a generic face; image_size = (w, h)."""
    w, h = image_size
    f = float(max(w, h))  # ~53° field of view: the exact focal length barely moves the angles
    camera = np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1]], dtype=np.float64)
    pts = np.ascontiguousarray(np.asarray(landmarks68, dtype=np.float64)[_MODEL_IDX])
    ok, rvec, tvec = cv2.solvePnP(_MODEL_3D, pts, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(_MODEL_3D, pts, camera, None, rvec, tvec, True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return 90.0, 0.0, 0.0  # unreadable pose: treat as profile
    rot, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll) · Ry(yaw) · Rx(pitch): the face turning left/right is a rotation about y.
    yaw = np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rot[2, 1], rot[2, 2]))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))
    # Back of the model facing the camera (z axis pointing at us) → beyond profile.
    if rot[2, 2] < 0:
        yaw = float(np.sign(yaw or 1.0) * (180.0 - abs(yaw)))
        pitch = float(pitch - np.sign(pitch) * 180.0)
    return float(yaw), float(pitch), float(roll)


def profile_ratio(landmarks68: np.ndarray) -> float:
    """Nose-to-jaw-side ratio: min/max of the nose tip's distance to the two jaw sides.

    ~1 frontal, → 0 in full profile (one cheek disappears behind the nose). A second opinion
    on yaw that needs no 3-D model.
    """
    lm = np.asarray(landmarks68, dtype=np.float64)
    nose = lm[30]
    left = np.linalg.norm(nose - lm[2])
    right = np.linalg.norm(nose - lm[14])
    big = max(left, right)
    return float(min(left, right) / big) if big > 0 else 0.0


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 view of a uint8, uint16 or float (0..1) image: all measures use the 0..255 scale."""
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img // 257).astype(np.uint8)
    return np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def _luma(rgb: np.ndarray) -> np.ndarray:
    img = rgb.astype(np.float32)
    if img.ndim == 2:
        return img
    return 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


def analysis_image(crop_rgb: np.ndarray) -> np.ndarray:
    """The crop as uint8 RGB at the fixed 256² analysis size (area when shrinking, cubic when growing)."""
    src = to_uint8(crop_rgb)
    if src.shape[0] == ANALYSIS_SIZE and src.shape[1] == ANALYSIS_SIZE:
        return src
    interp = cv2.INTER_AREA if src.shape[0] >= ANALYSIS_SIZE else cv2.INTER_CUBIC
    return cv2.resize(src, (ANALYSIS_SIZE, ANALYSIS_SIZE), interpolation=interp)


def sharpness(crop_rgb: np.ndarray) -> float:
    """Normalised Laplacian variance of the aligned crop at 256² (see module doc)."""
    small = _luma(analysis_image(crop_rgb))
    m = int(ANALYSIS_SIZE * 0.2)
    centre = small[m:ANALYSIS_SIZE - m, m:ANALYSIS_SIZE - m]
    lap = cv2.Laplacian(centre, cv2.CV_32F, ksize=1)
    var = float(centre.var())
    return float(1000.0 * lap.var() / (var + 25.0))  # +25: flat frames do not divide by ~0


# The face area of an FFHQ-aligned crop, as fractions of the crop side: centre and semi-axes.
# FFHQ alignment fixes eyes and mouth, so this ellipse covers the same facial skin in every crop.
_FACE_ELLIPSE = (0.5, 0.55, 0.23, 0.31)


def _face_mask(n: int, yaw: float = 0.0) -> np.ndarray:
    """The face ellipse at n²; for a turned head the half on the far side (where the nose points)
    is narrowed by cos(yaw), so background beside a 3/4 view does not count as occluder."""
    cx, cy, ax, ay = _FACE_ELLIPSE
    mask = np.zeros((n, n), np.uint8)
    centre = (int(round(cx * n)), int(round(cy * n)))
    far = max(0.35, float(np.cos(np.radians(min(abs(yaw), 90.0)))))
    left_ax = ax * (far if yaw < 0 else 1.0)
    right_ax = ax * (far if yaw > 0 else 1.0)
    cv2.ellipse(mask, centre, (int(round(left_ax * n)), int(round(ay * n))), 0, 90, 270, 1, -1)
    cv2.ellipse(mask, centre, (int(round(right_ax * n)), int(round(ay * n))), 0, -90, 90, 1, -1)
    return mask


def incomplete_fraction(crop_to_source: np.ndarray, crop_size: int, image_size: tuple[int, int]) -> float:
    """Share of the crop's face ellipse that lies outside the source image (face cut by the frame).

    ``crop_to_source`` is the (2, 3) inverse of the alignment transform.
    """
    n = 64
    ys, xs = np.nonzero(_face_mask(n))
    pts = np.stack([(xs + 0.5) * crop_size / n - 0.5, (ys + 0.5) * crop_size / n - 0.5], axis=1)
    m = np.asarray(crop_to_source, dtype=np.float64)
    src = pts @ m[:, :2].T + m[:, 2]
    w, h = image_size
    outside = (src[:, 0] < -0.5) | (src[:, 1] < -0.5) | (src[:, 0] > w - 0.5) | (src[:, 1] > h - 0.5)
    return float(outside.mean())


def _chroma_mode(ab: np.ndarray) -> np.ndarray:
    """Dominant (a, b) chroma: peak of a 32² histogram refined by the mean of pixels near it."""
    hist, xe, ye = np.histogram2d(ab[:, 0], ab[:, 1], bins=32, range=[[0, 256], [0, 256]])
    i, j = np.unravel_index(int(hist.argmax()), hist.shape)
    mode = np.array([xe[i] + 4.0, ye[j] + 4.0], dtype=np.float32)
    near = np.linalg.norm(ab - mode, axis=1) < 10
    return ab[near].mean(axis=0) if near.any() else mode


def occlusion(crop_rgb: np.ndarray, yaw: float = 0.0) -> float:
    """Skin-colour consistency of the two face halves, 0 (consistent) .. 1 (one half covered).

    Each half of the crop's face ellipse (the far half narrowed by yaw) has a dominant chroma
    (Lab a, b); the score is 1 − the smaller share of one half's pixels within 18 units of the
    OTHER half's dominant chroma. A flat or coloured occluder over one half (a hand-held object,
    a mask, another head) gives that half a dominant colour the other half lacks, even when the
    landmarker hallucinated the hidden features. Chroma only, so side light does not count.
    Measured: clean faces 0.0-0.3 (graded film up to ~0.78), a face half covered 0.85-1.
    The score is the larger of that and ``_flat_features`` (eyes or mouth covered by a flat,
    dark or out-of-focus object, which the colour test misses when it covers both halves).
    """
    n = ANALYSIS_SIZE
    small = analysis_image(crop_rgb)
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (5, 5), 0), cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma = lab[..., 1:]
    mask = _face_mask(n, yaw) > 0
    half = n // 2
    left = chroma[:, :half][mask[:, :half]]
    right = chroma[:, half:][mask[:, half:]]
    if len(left) == 0 or len(right) == 0:
        return 1.0
    mode_l, mode_r = _chroma_mode(left), _chroma_mode(right)
    share_l = float((np.linalg.norm(left - mode_r, axis=1) < 18).mean())
    share_r = float((np.linalg.norm(right - mode_l, axis=1) < 18).mean())
    return float(max(1.0 - min(share_l, share_r), _flat_features(small, mask)))


# Eye and mouth centres of an FFHQ crop (fractions of the side): alignment puts them here.
_FEATURES = ((0.38, 0.47), (0.62, 0.47), (0.5, 0.74))


def _flat_features(small: np.ndarray, mask: np.ndarray) -> float:
    """0..1: how featureless the flattest of the eyes and mouth is, next to the face's own contrast.

    An eye or a mouth always has contrast (iris, lashes, lips); under a bar, a shadow or an
    out-of-focus foreground object its luma std drops to a few % of the face's. Score
    1 − (min relative std / 0.25), clipped: real features read 0 (relative std ≥ 0.25, down to
    ~0.1 on soft, low-resolution faces → ≤ 0.6), a flat cover reads ~1.
    """
    luma = _luma(small)
    n = luma.shape[0]
    ref = float(luma[mask].std()) + 1e-3
    half_w, half_h = max(2, int(0.055 * n)), max(2, int(0.027 * n))
    rel = []
    for cx, cy in _FEATURES:
        x, y = int(cx * n), int(cy * n)
        rel.append(float(luma[y - half_h:y + half_h, x - half_w:x + half_w].std()) / ref)
    return float(np.clip(1.0 - min(rel) / 0.25, 0.0, 1.0))


def yaw_from_points5(points5: np.ndarray) -> float:
    """Yaw in degrees from the detector's 5 points: where the nose tip falls along the eye line.

    The nose tip sits ~0.47 eye-distances in front of the eye plane, so its offset from the eye
    midpoint (in eye-distance units) is ~0.47·tan(yaw). The detector sees the whole face and
    does not hallucinate a frontal shape the way a 68-point regressor does on a profile.
    """
    p = np.asarray(points5, dtype=np.float64)
    e = p[1] - p[0]
    n = float(np.linalg.norm(e))
    if n < 1e-6:
        return 90.0
    r = float(np.dot(p[2] - p[0], e / n) / n)
    return float(np.degrees(np.arctan((r - 0.5) / 0.47)))


def dhash(crop_rgb: np.ndarray) -> int:
    """64-bit difference hash of the crop (9×8 luma gradient signs): near-duplicate frames."""
    small = cv2.resize(_luma(analysis_image(crop_rgb)), (9, 8), interpolation=cv2.INTER_AREA)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    return bin(int(a) ^ int(b)).count("1")


@dataclass
class Measurements:
    """Everything the filters look at for one face."""

    face_size: float          # max side of the detector box, original pixels
    face_fraction: float
    eye_tilt: float
    yaw: float
    pitch: float
    roll: float
    profile_ratio: float
    sharpness: float
    occlusion: float
    incomplete: float
    phash: int


def measure(crop_rgb: np.ndarray, landmarks68: np.ndarray, points5: Optional[np.ndarray],
            box: Sequence[float], transform: np.ndarray, image_size: tuple[int, int], size: int) -> Measurements:
    """Measure one aligned face.

    ``landmarks68`` and ``points5`` (detector's, or None) in source pixels, ``transform`` the
    (2, 3) source → crop alignment, ``image_size`` = (w, h) of the source, ``size`` the crop side.
    """
    yaw68, pitch, roll = head_pose(landmarks68, image_size)
    yaw = yaw68
    tilt = eye_tilt(landmarks68)
    if points5 is not None:
        # A 68-point regressor is pulled towards an upright frontal mean shape; the detector's
        # points are not: take whichever estimate sees the larger angle.
        yaw5 = yaw_from_points5(points5)
        if abs(yaw5) > abs(yaw):
            yaw = yaw5
        p = np.asarray(points5, dtype=np.float64)
        d = p[1] - p[0]
        tilt5 = float(np.degrees(np.arctan2(d[1], d[0])))
        if abs(tilt5) > abs(tilt):
            tilt = tilt5
    x0, y0, x1, y1 = (float(v) for v in box)
    small = analysis_image(crop_rgb)  # every image measure works on the same 256² view
    source_side = size / max(scale_of(transform), 1e-9)
    m = np.asarray(transform, dtype=np.float64)
    inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))[:2]
    return Measurements(
        face_size=max(x1 - x0, y1 - y0),
        face_fraction=min(1.0, (source_side / size) ** 2),
        eye_tilt=tilt,
        yaw=yaw, pitch=pitch, roll=roll,
        profile_ratio=profile_ratio(landmarks68),
        sharpness=sharpness(small),
        occlusion=occlusion(small, yaw),
        incomplete=incomplete_fraction(inv, size, image_size),
        phash=dhash(small),
    )


def scale_of(m: np.ndarray) -> float:
    m = np.asarray(m, dtype=np.float64)
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def judge(m: Measurements, settings: FilterSettings, min_face: float = 0.0) -> Optional[str]:
    """The first rule a face fails (order = REASONS), or None to keep it. Duplicates are separate."""
    s = settings
    if min_face and m.face_size < min_face:
        return "undersize"
    if s.min_face_fraction is not None and m.face_fraction < s.min_face_fraction:
        return "small"
    if s.max_tilt is not None and abs(m.eye_tilt) > s.max_tilt:
        return "tilt"
    if s.max_yaw is not None and (abs(m.yaw) > s.max_yaw or (s.max_pitch is not None and abs(m.pitch) > s.max_pitch)
                                  ):
        return "profile"
    if s.max_incomplete is not None and m.incomplete > s.max_incomplete:
        return "occluded"
    # Blur before occlusion: a soft, upsampled face also has featureless eyes, and "blur" is
    # the more useful reason for it.
    if s.min_sharpness is not None and m.sharpness < s.min_sharpness:
        return "blur"
    if s.max_occlusion is not None and m.occlusion > s.max_occlusion:
        return "occluded"
    return None


def is_duplicate(phash: int, embedding: Optional[np.ndarray], kept: Sequence[tuple[int, Optional[np.ndarray]]],
                 settings: FilterSettings) -> bool:
    """True when a kept face of the same group has a close dHash and (if known) a close embedding."""
    if settings.dedupe_hash is None:
        return False
    for other_hash, other_emb in kept:
        if hamming(phash, other_hash) > settings.dedupe_hash:
            continue
        if embedding is None or other_emb is None:
            return True
        if float(np.linalg.norm(np.asarray(embedding) - np.asarray(other_emb))) < settings.dedupe_embedding:
            return True
    return False
