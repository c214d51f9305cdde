"""The quality bench's judges: face models the engine does not use, run straight from the shared assets.

Independent of faceplate.core on purpose (the engine under test must not grade itself):
  * YuNet (cv2.FaceDetectorYN) finds the faces and their 5 points — only to place the crops;
  * PFLD-98 (WFLW) gives the landmarks that measure eye / mouth openness, brows and the forehead band;
  * MobileFaceNet gives the identity embedding (cosine: same person >= 0.71, different <= 0.34).
Input contracts are the ones in ../shared/assets/MANIFEST.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# ArcFace 112x112 five-point template (MobileFaceNet is aligned to it).
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

# WFLW-98 indices: eye corners and the three upper/lower lid pairs, inner-lip pairs, brows.
LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS = (60, 64), (68, 72)
LEFT_LID_PAIRS = ((61, 67), (62, 66), (63, 65))
RIGHT_LID_PAIRS = ((69, 75), (70, 74), (71, 73))
MOUTH_CORNERS = (76, 82)
INNER_LIP_PAIRS = ((89, 95), (90, 94), (91, 93))
BROW_UPPER = tuple(range(33, 38)) + tuple(range(42, 47))
BROWS = tuple(range(33, 51))


@dataclass
class Face:
    """One detected face: box (x, y, w, h), five points (ArcFace order) and the detector score."""
    box: np.ndarray
    points5: np.ndarray
    score: float

    @property
    def centre(self) -> np.ndarray:
        return self.box[:2] + self.box[2:] / 2


class Judges:
    """Loads the three judge models from ASSETS/models once; all inputs are sRGB uint8 RGB images."""

    def __init__(self, assets: Path, min_score: float = 0.75, threads: int = 1):
        import onnxruntime as ort

        models = assets / "models"
        self.min_score = min_score
        self._detector = cv2.FaceDetectorYN.create(str(models / "yunet/yunet_n_dynamic.onnx"), "",
                                                   (320, 320), min_score, 0.3, 50)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        self._pfld = ort.InferenceSession(str(models / "pfld98/PFLD_GhostOne_112_1_opt_sim.onnx"),
                                          options, providers=providers)
        self._mfn = ort.InferenceSession(str(models / "mobilefacenet/MobileFaceNet.onnx"),
                                         options, providers=providers)

    def detect(self, rgb: np.ndarray, min_size: float = 48) -> list[Face]:
        """Faces at least min_size px wide, best score first."""
        h, w = rgb.shape[:2]
        self._detector.setInputSize((w, h))
        _, rows = self._detector.detect(np.ascontiguousarray(rgb[:, :, ::-1]))
        faces = [Face(np.asarray(r[:4], np.float64), np.asarray(r[4:14], np.float64).reshape(5, 2), float(r[14]))
                 for r in (rows if rows is not None else [])]
        return sorted((f for f in faces if f.box[2] >= min_size), key=lambda f: -f.score)

    def landmarks98(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        """98 (x, y) image points from the detector box made square around its centre (no margin)."""
        side = float(max(box[2], box[3]))
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        scale = 112.0 / side
        to_crop = np.array([[scale, 0, 56 - cx * scale], [0, scale, 56 - cy * scale]], np.float64)
        crop = cv2.warpAffine(rgb, to_crop, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        x = (crop.astype(np.float32) / 255.0 - 0.5) / 0.5
        out = self._pfld.run(None, {self._pfld.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})[0]
        points = out.reshape(98, 2).astype(np.float64) * 112.0
        return (points - to_crop[:, 2]) / scale

    def embedding(self, rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        """L2-normalised 128-d MobileFaceNet embedding of the face aligned on its five points."""
        matrix, _ = cv2.estimateAffinePartial2D(points5.astype(np.float32), ARCFACE_TEMPLATE, method=cv2.LMEDS)
        crop = cv2.warpAffine(rgb, matrix, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        x = (crop.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        vec = self._mfn.run(None, {self._mfn.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})[0][0]
        return vec / max(float(np.linalg.norm(vec)), 1e-9)

    def identity_of_photos(self, images: list[np.ndarray]) -> np.ndarray:
        """Mean embedding of the largest face in each image (renormalised): the source's identity."""
        vectors = []
        for rgb in images:
            faces = self.detect(rgb, min_size=24)
            if faces:
                face = max(faces, key=lambda f: f.box[2])
                vectors.append(self.embedding(rgb, face.points5))
        if not vectors:
            raise RuntimeError("the judge found no face in any source image")
        mean = np.mean(vectors, axis=0)
        return mean / np.linalg.norm(mean)


def eye_openness(points98: np.ndarray) -> float:
    """Mean lid distance / eye width over both eyes (about 0.25-0.35 open, under 0.1 closed)."""
    values = []
    for corners, pairs in ((LEFT_EYE_CORNERS, LEFT_LID_PAIRS), (RIGHT_EYE_CORNERS, RIGHT_LID_PAIRS)):
        width = np.linalg.norm(points98[corners[0]] - points98[corners[1]])
        lids = np.mean([np.linalg.norm(points98[a] - points98[b]) for a, b in pairs])
        values.append(lids / max(width, 1e-6))
    return float(np.mean(values))


def mouth_openness(points98: np.ndarray) -> float:
    """Mean inner-lip gap / mouth width (0 closed, about 0.3-0.6 talking or laughing)."""
    width = np.linalg.norm(points98[MOUTH_CORNERS[0]] - points98[MOUTH_CORNERS[1]])
    gap = np.mean([np.linalg.norm(points98[a] - points98[b]) for a, b in INNER_LIP_PAIRS])
    return float(gap / max(width, 1e-6))


def brow_height(points98: np.ndarray) -> float:
    """Brow-to-eye distance / inter-ocular distance (raised brows read higher)."""
    left_eye = points98[60:68].mean(axis=0)
    right_eye = points98[68:76].mean(axis=0)
    iod = np.linalg.norm(right_eye - left_eye)
    left = np.linalg.norm(points98[33:38].mean(axis=0) - left_eye)
    right = np.linalg.norm(points98[42:47].mean(axis=0) - right_eye)
    return float((left + right) / 2 / max(iod, 1e-6))
