"""Face regions from landmarks and pixels: the eye openings and mouth interior kept from the plate, the
person's own visible skin (hairline found in the image), and the skin model behind it.

Skin is modelled in linear light on chroma (log R/G, log B/G) and log luminance, learned from the
cheeks and nose of the same face (median and a robust spread), so it adapts to the person and the
light. Above the brows skin is grown upward from just over the brow line: the first hair (or
backdrop) stops it, and the landmark forehead lift bounds it. Below the brows the whole landmark
hull counts (beards, lips and eyes belong to the person; occlusion is handled elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_EPS = 1e-4
_DARK = float(np.log(10.0))   # log luminance below the skin's median that no lit skin reaches
# Cheek and nose-bridge sample polygons (iBUG-68 indices): skin on almost every face.
_CHEEK_LEFT = [1, 2, 3, 4, 48, 31, 39, 40, 41, 36]
_CHEEK_RIGHT = [15, 14, 13, 12, 54, 35, 42, 47, 46, 45]
_NOSE = [27, 39, 31, 33, 35, 42]


def face_size(landmarks68: np.ndarray) -> float:
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    return max(float(np.linalg.norm(lm[16] - lm[0])), float(np.linalg.norm(lm[17:27].mean(axis=0) - lm[8])), 1.0)


def _poly_mask(points: np.ndarray, shape: tuple[int, int], convex: bool = True) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    if convex:
        p = cv2.convexHull(p.astype(np.float32)).reshape(-1, 2)
    cv2.fillPoly(m, [np.round(p * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return m


def _features(image_linear: np.ndarray) -> np.ndarray:
    x = np.maximum(np.nan_to_num(np.asarray(image_linear, np.float32), nan=0.0, posinf=0.0, neginf=0.0), 0.0) + _EPS
    luma = 0.2126 * x[..., 0] + 0.7152 * x[..., 1] + 0.0722 * x[..., 2]
    return np.stack([np.log(x[..., 0] / x[..., 1]), np.log(x[..., 2] / x[..., 1]), np.log(luma)], axis=-1)


@dataclass
class SkinModel:
    centre: np.ndarray   # (3,) median chroma r/g, b/g, log luminance
    spread: np.ndarray   # (3,) robust standard deviations (floored)

    def distance(self, image_linear: np.ndarray) -> np.ndarray:
        """(h, w) normalised distance from the skin colour; under ~3 is skin. Luminance counts half:
        shading varies over a face far more than its chroma does."""
        d = (_features(image_linear) - self.centre) / self.spread
        return np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2 + 0.25 * d[..., 2] ** 2)


def skin_model(image_linear: np.ndarray, landmarks68: np.ndarray) -> SkinModel:
    """Skin colour of this face, learned from its cheeks and nose."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    shape = image_linear.shape[:2]
    sample = np.zeros(shape, np.uint8)
    for poly in (_CHEEK_LEFT, _CHEEK_RIGHT, _NOSE):
        sample |= _poly_mask(lm[poly], shape)
    feats = _features(image_linear)[sample > 0]
    if len(feats) < 16:
        return SkinModel(np.array([0.3, -0.4, np.log(0.2)]), np.array([0.15, 0.25, 0.8]))
    centre = np.median(feats, axis=0)
    spread = 1.4826 * np.median(np.abs(feats - centre), axis=0)
    return SkinModel(centre, np.maximum(spread, [0.04, 0.06, 0.25]))


def hull_points(landmarks68: np.ndarray, lift: float) -> np.ndarray:
    """Jaw line plus the brows raised by ``lift`` × brow-to-chin height (the landmark face hull)."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    up = lm[17:27].mean(axis=0) - lm[8]
    return np.vstack([lm[:17], (lm[17:27] + up * lift)[::-1]])


def visible_skin(image_linear: np.ndarray, landmarks68: np.ndarray, lift: float = 0.35,
                 threshold: float = 3.0) -> np.ndarray:
    """(h, w) float32 0..1: the landmark hull, with the forehead cut at the hairline seen in the image."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    shape = image_linear.shape[:2]
    size = face_size(lm)
    hull = _poly_mask(hull_points(lm, lift), shape)
    up = lm[17:27].mean(axis=0) - lm[8]
    # Below this line (just over the brows) everything in the hull is the person's face.
    low = np.vstack([lm[:17], (lm[17:27] + up * 0.06)[::-1]])
    base = _poly_mask(low, shape) & hull
    skin = (skin_model(image_linear, lm).distance(image_linear) < threshold).astype(np.uint8)
    k = max(int(round(0.015 * size)), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    skin = cv2.morphologyEx(skin, cv2.MORPH_OPEN, kernel)   # lone hair-coloured speckles in skin, and back
    band = hull & (1 - base)
    grow = (band & skin) | base
    n, labels = cv2.connectedComponents(grow, connectivity=8)
    touching = np.unique(labels[(base > 0) & (labels > 0)])
    region = np.isin(labels, touching).astype(np.uint8)
    # Skin grows up from the brows column by column: close small gaps (pores, specular), not a fringe.
    region = cv2.morphologyEx(region, cv2.MORPH_CLOSE, kernel) & hull
    out = region.astype(np.float32)
    sigma = max(0.012 * size, 0.5)
    return np.clip(cv2.GaussianBlur(out, (0, 0), sigma) * 1.0, 0.0, 1.0) * (cv2.GaussianBlur(
        hull.astype(np.float32), (0, 0), sigma) > 0.0)


def fade_at_cut(skin: np.ndarray, landmarks68: np.ndarray, lift: float, width: float = 0.1) -> np.ndarray:
    """``skin`` faded to 0 over ``width`` face sizes toward where it was cut inside the face hull (a
    fringe, a hat brim, a hand): a source's skin ending mid-forehead blends into the actor's forehead
    instead of ending in a hard line with the fringe's shadow along it. Edges on the hull stay as
    they are (the actor's own matte bounds the face there)."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    hull = _poly_mask(hull_points(lm, lift), skin.shape[:2]) > 0
    cut = hull & (skin < 0.5)
    if not cut.any():
        return skin
    reach = max(width * face_size(lm), 1.0)
    distance = cv2.distanceTransform((~cut).astype(np.uint8), cv2.DIST_L2, 5)
    t = np.clip(distance / reach, 0.0, 1.0)
    return (skin * t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep: no kink where it starts


def trim_silhouette(skin: np.ndarray, image_linear: np.ndarray, landmarks68: np.ndarray, lift: float,
                    width: float = 0.06, threshold: float = 3.0) -> np.ndarray:
    """``skin`` with what the landmark hull takes in that is not this face, reached from outside it,
    cut out: pixels whose chroma is not skin's and that reach the outside through such pixels, within
    ``width`` face sizes of the hull edge (a blue backdrop or white hair beside a cheek: on a turned
    or tilted still the jaw landmarks sit past the silhouette, and warped onto the actor that sliver
    is a pale or coloured arc down the cheek) and at any depth below the mouth corners (a microphone,
    a cup or a glass held up to the chin enters from below; lips are left alone). Chroma only (the
    jaw's own shadow is skin), except under the mouth, where ten times darker than the skin (a black
    handle, whose chroma is noise) is foreign too."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    size = face_size(lm)
    shape = skin.shape[:2]
    hull = _poly_mask(hull_points(lm, lift), shape)
    model = skin_model(image_linear, lm)
    feats = _features(image_linear)
    d = (feats[..., :2] - model.centre[:2]) / model.spread[:2]
    foreign = np.hypot(d[..., 0], d[..., 1]) >= threshold
    rim = cv2.distanceTransform(hull, cv2.DIST_L2, 5) < width * size
    chin = _below_mouth(lm, shape)
    # a black object's chroma is noise: under the mouth, ten times darker than the skin is foreign too
    chin_foreign = foreign | (feats[..., 2] < model.centre[2] - _DARK)
    reach = (foreign & rim) | (chin_foreign & chin)
    _, labels = cv2.connectedComponents((reach | (hull == 0)).astype(np.uint8), connectivity=8)
    cut = np.isin(labels, np.unique(labels[hull == 0])) & (hull > 0)
    if not cut.any():
        return skin
    k = max(int(round(0.02 * size)), 1)   # one object, not speckles: its specular glints and seams too
    cut = cv2.morphologyEx(cut.astype(np.uint8), cv2.MORPH_CLOSE,
                           cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))) & hull > 0
    soft = np.clip(cv2.GaussianBlur(cut.astype(np.float32), (0, 0), max(0.01 * size, 0.5)) * 2.0, 0.0, 1.0)
    # deep in the chin the source's skin fades out toward the object (as fade_at_cut does at a fringe):
    # the actor's chin showing through a hard-edged hole would be a seam riding the jaw
    # (not into the lips: the lip line is an edge of the face's own, and a lower lip half the
    # actor's changes the mouth's shape)
    deep = cut & (cv2.distanceTransform(hull, cv2.DIST_L2, 5) >= width * size)
    if deep.any():
        t = np.clip(cv2.distanceTransform((~deep).astype(np.uint8), cv2.DIST_L2, 5) / (0.05 * size), 0.0, 1.0)
        lips = _poly_mask(lm[48:60], shape, convex=False) > 0
        soft = np.maximum(soft, np.where(lips, 0.0, 1.0 - t * t * (3.0 - 2.0 * t)))
    return (skin * (1.0 - soft)).astype(np.float32)


def _below_mouth(landmarks68: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: the chin side of the line through the mouth corners, less the lips."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    a, b = lm[48], lm[54]
    normal = np.array([a[1] - b[1], b[0] - a[0]])
    if np.dot(lm[8] - a, normal) < 0:
        normal = -normal
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    below = (xs - a[0]) * normal[0] + (ys - a[1]) * normal[1] > 0
    return below & (_poly_mask(lm[48:60], shape, convex=False) == 0)


def _grown(points: np.ndarray, amount: float) -> np.ndarray:
    """Each point pushed ``amount`` pixels away from the polygon's centre."""
    c = points.mean(axis=0)
    d = points - c
    return c + d + d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9) * amount


def eye_polygons(landmarks68: np.ndarray, grow: float = 0.0) -> list[np.ndarray]:
    """Per eye (image-left first): the eye opening inside the lid margins, grown by ``grow`` eye widths.

    Only the opening (iris, white, lash line): the lids above and below, the eye-surround skin and
    the brows are the source's skin, warped onto the actor's lid landmarks, so a closed eye is the
    source's closed lid and the opening shrinks to nothing with it.
    """
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    out = []
    for eye in (slice(36, 42), slice(42, 48)):
        p = lm[eye]
        out.append(_grown(p, grow * float(np.linalg.norm(p[3] - p[0]))))
    return out


def mouth_polygon(landmarks68: np.ndarray, grow: float = 0.05) -> np.ndarray:
    """The mouth interior (teeth, tongue) inside the inner lip line, grown by ``grow`` mouth widths
    (the lips' inner edge). The lips themselves follow the actor's lip landmarks in the warp."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    return _grown(lm[60:68], grow * float(np.linalg.norm(lm[54] - lm[48])))


def feature_masks(landmarks68: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """(h, w) float32 0..1 soft masks: [image-left eye, image-right eye, mouth interior].

    The soft edge lies outside the polygon (value 1 on the outline), a little over a hundredth of the
    face wide, so the kept opening has its whole lash line and blends into the lid skin around it.
    """
    size = face_size(landmarks68)
    sigma = max(0.012 * size, 0.5)
    polys = [(p, True) for p in eye_polygons(landmarks68)] + [(mouth_polygon(landmarks68), False)]
    out = []
    for poly, convex in polys:
        soft = cv2.GaussianBlur(_poly_mask(poly, shape, convex=convex).astype(np.float32), (0, 0), sigma)
        out.append(np.clip(soft * 2.0, 0.0, 1.0).astype(np.float32))
    return out


def feature_mask(landmarks68: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 0..1: both eye openings and the mouth interior (see :func:`feature_masks`)."""
    return np.max(np.stack(feature_masks(landmarks68, shape)), axis=0)
