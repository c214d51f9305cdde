"""The grain that changes from frame to frame, told apart from a face's fixed texture."""
from __future__ import annotations

import cv2
import numpy as np

from faceplate.core.analyze.temporal_grain import temporal_grain
from faceplate.core.render.grain import GrainModel, measure_grain, synthesize_grain
from tests.core.t1_faces import face_crop, face_ellipse

STD = np.array([0.006, 0.005, 0.004])


def _grain(shape, seed: int, size: float = 0.8) -> np.ndarray:
    model = GrainModel(STD, np.zeros(3), np.full(3, size), np.eye(3), 1, np.zeros(3))
    return synthesize_grain(model, shape, seed)


def _two_frames(texture: float, size: float = 0.8):
    """A real face with extra fixed fine texture of ``texture`` std (pores, a photo's own noise),
    moved by a sub-pixel similarity between two frames, with fresh grain of ``size`` px in each."""
    face, points = face_crop("centre", size=360, eye_distance=110.0)
    rng = np.random.default_rng(1)
    face = face + texture * cv2.GaussianBlur(rng.standard_normal(face.shape).astype(np.float32), (0, 0), 0.7)
    move = cv2.getRotationMatrix2D((180.0, 180.0), 1.5, 1.01)
    move[:, 2] += (0.37, -0.21)
    moved = cv2.warpAffine(face, move, (360, 360), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    first = face + _grain(face.shape[:2], 11, size)
    second = moved + _grain(face.shape[:2], 12, size)
    return first, points, second, points @ move[:, :2].T + move[:, 2], face_ellipse(points @ move[:, :2].T + move[:, 2], (360, 360))


def test_a_textured_face_reads_its_grain_not_its_texture():
    first, p1, second, p2, where = _two_frames(texture=0.012)
    one_frame = measure_grain(second, where)
    assert np.all(one_frame.std > 1.5 * STD)     # one frame alone counts the texture as grain
    found = temporal_grain(first, p1, second, p2, where)
    assert found is not None
    assert np.all(np.abs(found[0] / STD - 1.0) < 0.25), found[0] / STD


def test_the_grain_size_is_the_changing_grains_not_the_textures():
    """Coarse grain (1.6 px, as on a plate upscaled 2x) on a face with fine fixed texture: one frame
    reads the fine texture into the residual and takes the grain for finer than it is; the change
    between frames holds the grain alone."""
    first, p1, second, p2, where = _two_frames(texture=0.012, size=1.6)
    one_frame = measure_grain(second, where)
    std, size = temporal_grain(first, p1, second, p2, where)
    print(f"grain size 1.6 px: one frame {np.round(one_frame.size, 2)}, frame to frame {np.round(size, 2)}")
    assert np.all(one_frame.size < 1.3)
    assert np.all(np.abs(size / 1.6 - 1.0) < 0.2), size


def test_grain_that_moves_with_the_face_is_texture_and_too_little_overlap_gives_none():
    first, p1, _, p2, where = _two_frames(texture=0.0)
    move = cv2.estimateAffinePartial2D(p1.astype(np.float32), p2.astype(np.float32))[0]
    frozen = cv2.warpAffine(first, move, first.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    found = temporal_grain(first, p1, frozen, p2, where)
    assert np.all(found[0] < 0.35 * STD), found[0] / STD
    tiny = np.zeros_like(where)
    tiny[:10, :10] = True
    assert temporal_grain(first, p1, frozen, p2, tiny) is None
