"""detect_faces: recall on hand-labelled boxes, 40-px faces and full-frame faces on 4K frames,
tile edges, determinism, NMS and the scale pyramid."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from faceplate.core.analyze.pyramid import detect_faces, pyramid_scales
from faceplate.core.geometry.boxes import box_iou, nms, suppress_contained
from faceplate.core.models.zoo import load_detector
from faceplate.core.types import Detection


@pytest.fixture(scope="module")
def detector():
    return load_detector()  # the embedded default: no files needed


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _labelled(asset):
    for xml in ("media/dlib_faces/training.xml", "media/dlib_faces/testing.xml"):
        for im in ET.parse(asset(xml)).getroot().iter("image"):
            boxes = np.array([[int(b.get("left")), int(b.get("top")),
                               int(b.get("left")) + int(b.get("width")), int(b.get("top")) + int(b.get("height"))]
                              for b in im.iter("box")], float)
            yield asset("media/dlib_faces/" + im.get("file")), boxes


def _found(truth: np.ndarray, dets: list[Detection]) -> np.ndarray:
    """A labelled (dlib-style, tight) box is found if a detection contains its centre at a similar size."""
    if not dets:
        return np.zeros(len(truth), bool)
    boxes = np.stack([d.box for d in dets])
    out = []
    for g in truth:
        cx, cy = (g[0] + g[2]) / 2, (g[1] + g[3]) / 2
        inside = (boxes[:, 0] <= cx) & (cx <= boxes[:, 2]) & (boxes[:, 1] <= cy) & (cy <= boxes[:, 3])
        ratio = (boxes[:, 2] - boxes[:, 0]) / (g[2] - g[0])
        out.append(bool(np.any(inside & (ratio > 0.6) & (ratio < 2.5))))
    return np.array(out)


def test_recall_on_hand_labelled_boxes(asset, detector):
    hits = total = extra = 0
    for path, truth in _labelled(asset):
        dets = detect_faces(detector, _rgb(path), min_face=20)
        found = _found(truth, dets)
        hits += int(found.sum())
        total += len(truth)
        extra += len(dets) - int(found.sum())
    assert total == 43
    assert hits >= 42, f"recall {hits}/{total}"
    assert extra <= 3, f"{extra} detections match no labelled face"


# -- synthetic 4K frames made from a real face ------------------------------------------------
@pytest.fixture(scope="module")
def one_face(package_faces, detector):
    """A real one-face photo the installed packages carry (scikit-image's astronaut, colour, face ~95 px)."""
    img = _rgb(package_faces.astronaut)
    (face,) = detector.detect(img)
    return img, face


def _small_faces_frame(img, ref: Detection, width: float, corners) -> tuple[np.ndarray, list[np.ndarray]]:
    """3840x2160 noisy grey frame with copies of the face scaled to ``width`` px, box top-left at corners."""
    s = width / ref.width
    small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    frame = np.clip(90 + rng.normal(0, 8, (2160, 3840, 3)), 0, 255).astype(np.uint8)
    boxes = []
    for x, y in corners:
        ox, oy = int(round(x - ref.box[0] * s)), int(round(y - ref.box[1] * s))
        h, w = small.shape[:2]
        x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, 3840), min(oy + h, 2160)
        frame[y0:y1, x0:x1] = small[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        boxes.append(ref.box * s + [ox, oy, ox, oy])
    return frame, boxes


def test_40px_faces_on_4k_frame_are_found_where_a_downscale_loses_them(one_face, detector):
    img, ref = one_face
    # (1270, 640) straddles the boundary between the two tiles of the fine pyramid level
    corners = [(300, 300), (1900, 1000), (3500, 1900), (1270, 640)]
    frame, truth = _small_faces_frame(img, ref, 40.0, corners)
    dets = detect_faces(detector, frame, min_face=40)
    assert len(dets) == len(truth), [d.box for d in dets]
    iou = box_iou(np.stack(truth), np.stack([d.box for d in dets]))
    assert (iou.max(axis=1) > 0.5).all(), iou.max(axis=1)
    # the naive alternative: one downscale of the whole 4K frame to the tile size
    naive = detector.detect(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA))
    assert len(naive) < len(truth)


def test_full_frame_face_on_4k_frame_is_one_detection(one_face, detector):
    img, ref = one_face
    x0, y0, x1, y1 = ref.box
    padded = cv2.copyMakeBorder(img, 0, 0, 400, 400, cv2.BORDER_REFLECT)
    cx, cy, half = (x0 + x1) / 2 + 400, (y0 + y1) / 2, (y1 - y0) * 0.62
    crop = padded[int(cy - half):int(cy + half), int(cx - half * 16 / 9):int(cx + half * 16 / 9)]
    sx, sy = 3840 / crop.shape[1], 2160 / crop.shape[0]
    frame = cv2.resize(crop, (3840, 2160), interpolation=cv2.INTER_LINEAR)
    expected = (ref.box + [400, 0, 400, 0] - [int(cx - half * 16 / 9), int(cy - half)] * 2) * [sx, sy, sx, sy]
    dets = detect_faces(detector, frame, min_face=40)
    assert len(dets) == 1, [(d.box, d.score) for d in dets]
    assert dets[0].height > 0.6 * 2160
    assert box_iou(expected[None], dets[0].box[None])[0, 0] > 0.6


def test_detect_faces_is_deterministic_and_in_plate_coordinates(one_face, detector):
    img, ref = one_face
    a = detect_faces(detector, img)
    b = detect_faces(detector, img.copy())
    assert len(a) == len(b) == 1
    np.testing.assert_array_equal(a[0].box, b[0].box)
    np.testing.assert_array_equal(a[0].points5, b[0].points5)
    # shifting the image shifts the detection by the same amount (up to resampling noise: the
    # frame may be detected at a reduced scale, so ~1 px there can be ~3 px here)
    shifted = cv2.copyMakeBorder(img, 37, 0, 91, 0, cv2.BORDER_REPLICATE)
    c = detect_faces(detector, shifted)[0]
    np.testing.assert_allclose(c.points5 - [91, 37], a[0].points5, atol=4.0)
    np.testing.assert_allclose(c.box - [91, 37, 91, 37], a[0].box, atol=6.0)
    # ArcFace order: image-left eye is left of image-right eye, mouth below nose below eyes
    p = a[0].points5
    assert p[0, 0] < p[1, 0] and p[3, 0] < p[4, 0]
    assert p[:2, 1].max() < p[2, 1] < p[3:, 1].min()


def test_pyramid_covers_every_face_width():
    lo, hi = 20.0, 360.0
    scales = pyramid_scales(3840, 2160, 40, (lo, hi))
    for width in np.geomspace(40, 2160, 60):
        assert any(lo <= width * s <= hi for s in scales), width
    assert pyramid_scales(640, 480, 40, (lo, hi)) == [0.75]


def test_nms_keeps_best_and_is_stable():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]], float)
    assert nms(boxes, np.array([0.9, 0.95, 0.5, 0.95])) == [1, 2]
    big = Detection(np.array([0, 0, 100, 100.0]), np.zeros((5, 2)), 0.9)
    part = Detection(np.array([10, 10, 40, 40.0]), np.zeros((5, 2)), 0.99)
    other = Detection(np.array([90, 0, 150, 60.0]), np.zeros((5, 2)), 0.8)
    assert suppress_contained([part, big, other]) == [big, other]
