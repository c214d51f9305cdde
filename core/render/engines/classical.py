"""The classical engine: a source photo warped onto the actor's smoothed landmarks (piecewise affine),
colour-matched and relit in linear light. Needs no trained generator.

Every engine works on one face on a plate ROI in SQUARE pixels (render desqueezes first) and returns a
``SwapResult``: the change ``delta = swap_linear - crop_linear`` in scene-linear light and where the
engine produced an image (``coverage``).
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
from faceplate.core.colour import ColourPipeline
from faceplate.core.errors import FaceplateError
from faceplate.core.geometry.ibug import BROWS, face_size
from faceplate.core.render.colour_match import colour_match, relight
from faceplate.core.types import SourceFace, SwapResult

CLASSICAL_NAME = "classical"


CLASSICAL_VERSION = "classical/1"   # stands in for a model sha256 in provenance




def _forehead(landmarks68: np.ndarray, lift: float = 0.35) -> np.ndarray:
    lm = np.asarray(landmarks68, np.float64)
    brows = lm[BROWS]
    up = brows.mean(axis=0) - lm[8]
    return brows + up * lift


def _mesh_points(landmarks68: np.ndarray) -> np.ndarray:
    """Vertices of the warp mesh (105, 2): landmarks, forehead points, and an outer ring.

    The ring (the jaw + forehead outline pushed 25 % away from the face centre) makes the mesh
    cover the whole matte even when a turned head folds the outline, so the matte never has
    notches where no triangle landed.
    """
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    forehead = _forehead(lm)
    outline = np.vstack([lm[:17], forehead])
    centre = lm[27:36].mean(axis=0)
    ring = centre + (outline - centre) * 1.25
    return np.vstack([lm, forehead, ring])


class ClassicalSwapper:
    """Source photo warped onto the target's smoothed dense landmarks by piecewise affine.

    The triangulation is computed once on the source mesh, so every frame uses the same
    triangles (deterministic, no flicker from re-triangulating moving points).
    """

    name = CLASSICAL_NAME
    sha256 = CLASSICAL_VERSION
    needs_embedding = False

    def __init__(self, source: SourceFace):
        if source.image_linear is None or source.landmarks is None:
            raise FaceplateError("the classical engine needs a source photo: pass --source actor.jpg "
                                 "(an embedding alone only drives neural swappers)")
        from scipy.spatial import Delaunay

        img = np.asarray(source.image_linear, np.float32)
        mesh = _mesh_points(source.landmarks)
        # Keep only the face area of the source (with margin) so per-frame resampling is cheap.
        x0, y0 = np.floor(mesh.min(axis=0) - 0.1 * face_size(source.landmarks)).astype(int)
        x1, y1 = np.ceil(mesh.max(axis=0) + 0.1 * face_size(source.landmarks)).astype(int)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, img.shape[1] - 1), min(y1, img.shape[0] - 1)
        self.image = np.ascontiguousarray(img[y0:y1 + 1, x0:x1 + 1])
        self.mesh = mesh - np.array([x0, y0], np.float64)
        self.size = face_size(source.landmarks)
        self.triangles = Delaunay(self.mesh).simplices.astype(np.int32)

    def swap(self, crop_linear: np.ndarray, landmarks68: np.ndarray, points5: np.ndarray,
             colour: Optional[ColourPipeline] = None, latent: Optional[np.ndarray] = None, face_matte: Optional[np.ndarray] = None,
             colour_match_on: bool = True) -> SwapResult:
        h, w = crop_linear.shape[:2]
        dst = _mesh_points(landmarks68)
        # Pre-shrink the source to the target's face size: remap alone would alias when minifying.
        scale = face_size(landmarks68) / self.size
        src_img, src_mesh = self.image, self.mesh
        if scale < 0.8:
            sw = max(int(round(self.image.shape[1] * scale)), 1)
            sh = max(int(round(self.image.shape[0] * scale)), 1)
            src_img = cv2.resize(self.image, (sw, sh), interpolation=cv2.INTER_AREA)
            src_mesh = (self.mesh + 0.5) * np.array([sw / self.image.shape[1], sh / self.image.shape[0]]) - 0.5
        ids = np.zeros((h, w), np.int32)
        shift = 4
        for t, tri in enumerate(self.triangles):
            poly = np.round(dst[tri] * (1 << shift)).astype(np.int32)
            cv2.fillConvexPoly(ids, poly, t + 1, lineType=cv2.LINE_8, shift=shift)
        covered = ids > 0
        if not covered.any():
            return SwapResult(np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32))
        # One affine per triangle (target -> source), gathered per pixel.
        affines = np.zeros((len(self.triangles) + 1, 2, 3), np.float64)
        for t, tri in enumerate(self.triangles):
            affines[t + 1] = cv2.getAffineTransform(dst[tri].astype(np.float32), src_mesh[tri].astype(np.float32))
        rows, cols = np.nonzero(covered)
        a = affines[ids[rows, cols]]
        xs, ys = cols.astype(np.float64), rows.astype(np.float64)
        map_x = np.full((h, w), -1.0, np.float32)
        map_y = np.full((h, w), -1.0, np.float32)
        map_x[rows, cols] = a[:, 0, 0] * xs + a[:, 0, 1] * ys + a[:, 0, 2]
        map_y[rows, cols] = a[:, 1, 0] * xs + a[:, 1, 1] * ys + a[:, 1, 2]
        warped = cv2.remap(src_img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        crop = np.nan_to_num(crop_linear.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if colour_match_on:
            where = covered if face_matte is None else (covered & (face_matte > 0.5))
            warped = colour_match(warped, crop, where)
            warped = relight(warped, crop, where, face_size(landmarks68))
        coverage = covered.astype(np.float32)
        # Keep the target's own mouth interior (teeth, tongue): a warped closed mouth stretched
        # over an open one reads as smeared lips. A closed mouth has no area here: no effect.
        inner = np.round(np.asarray(landmarks68, np.float64)[60:68] * (1 << shift)).astype(np.int32)
        hole = np.zeros((h, w), np.uint8)
        cv2.fillPoly(hole, [inner], 255, lineType=cv2.LINE_AA, shift=shift)
        if hole.any():
            sigma = max(0.01 * face_size(landmarks68), 0.5)
            hole_f = cv2.GaussianBlur(hole.astype(np.float32) / 255.0, (0, 0), sigma)
            coverage *= 1.0 - np.clip(hole_f, 0.0, 1.0)
            coverage[coverage < 1e-3] = 0.0
        delta = (warped - crop) * coverage[..., None]
        return SwapResult(delta.astype(np.float32), coverage)
