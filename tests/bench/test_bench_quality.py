"""Smoke test of the face quality bench (bench/bench_quality.py): its metrics on a tiny synthetic case
and its judges on real faces. Fast (a few seconds): no plate is built and no engine is run."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_quality  # noqa: E402
import quality_metrics as qm  # noqa: E402
from quality_judges import eye_openness, mouth_openness  # noqa: E402
from quality_plates import acescg_to_srgb, srgb_to_acescg  # noqa: E402


def _texture(seed: int = 0, size: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 2) * 2 - 128,
                   0, 255)


def _points98() -> np.ndarray:
    """A hand-made WFLW-98 face: eyes 40 px wide with lids 12 px apart, mouth 50 px wide and 10 px open,
    brows 20 px above the eyes (the other points are filler)."""
    p = np.zeros((98, 2))
    for start, cx in ((60, 50.0), (68, 110.0)):
        p[start], p[start + 4] = (cx - 20, 80), (cx + 20, 80)
        for i, dx in enumerate((-10, 0, 10)):
            p[start + 1 + i] = (cx + dx, 74)
            p[start + 7 - i] = (cx + dx, 86)
    p[76], p[82] = (55, 130), (105, 130)
    for i, dx in enumerate((-10, 0, 10)):
        p[89 + i], p[95 - i] = (80 + dx, 125), (80 + dx, 135)
    p[33:38] = [(x, 60) for x in np.linspace(30, 70, 5)]
    p[42:47] = [(x, 60) for x in np.linspace(90, 130, 5)]
    return p


def test_openness_reads_the_landmarks() -> None:
    points = _points98()
    assert eye_openness(points) == pytest.approx(12 / 40)
    assert mouth_openness(points) == pytest.approx(10 / 50)
    closed = points.copy()
    closed[[61, 62, 63, 69, 70, 71], 1] = 85  # upper lids down onto the lower lids
    assert eye_openness(closed) < 0.05
    assert qm.relative_error(eye_openness(closed), eye_openness(points)) > 0.8
    assert qm.relative_error(0.02, 0.0) == pytest.approx(0.2)  # floor: a closed mouth is not a 0 division


def test_forehead_band_sits_above_the_brows_and_measures_only_there() -> None:
    band = qm.forehead_band(_points98(), (160, 160))
    rows = np.nonzero(band.any(axis=1))[0]
    assert rows.min() < 60 - 30 and rows.max() < 80  # from about 0.7 IOD above the brows to under them
    plate = _texture()
    out = plate.copy()
    out[100:] += 40  # a change below the eyes does not count
    assert qm.mean_abs_change(out, plate, band) == 0
    out[:55] = np.clip(plate[:55] + 20, 0, 255)
    assert 5 < qm.mean_abs_change(out, plate, band) <= 20


def test_skin_colour_error_sees_a_cast_not_detail_or_brightness() -> None:
    grey = _texture()[..., :1] / 255.0                      # detail of one value in all channels
    plate = (np.array([200.0, 150.0, 120.0], np.float32) * (0.6 + 0.4 * grey)).astype(np.float32)
    mask = np.zeros(plate.shape[:2], bool)
    mask[40:120, 40:120] = True
    assert qm.skin_colour_error(plate * 0.8, plate, mask, 6.0) < 0.005   # brightness is not colour
    rng = np.random.default_rng(1)
    detail = np.clip(plate + rng.normal(0, 6, plate.shape[:2])[..., None], 1, 255)
    assert qm.skin_colour_error(detail, plate, mask, 6.0) < 0.01          # nor is grey detail
    cast = plate * np.array([1.0, 1.0, 1.1], np.float32)                 # a 10 % blue cast
    assert 0.04 < qm.skin_colour_error(cast, plate, mask, 6.0) < 0.06


def test_lower_face_skin_is_cheeks_nose_and_chin_without_eyes_or_mouth() -> None:
    p = _points98()
    angles = np.linspace(np.pi, 0.0, 33)
    p[:33] = np.stack([80 + 60 * np.cos(angles), 80 + 70 * np.sin(angles)], axis=1)   # jaw: a U under the eyes
    p[51:60] = np.stack([np.full(9, 80.0), np.linspace(78, 112, 9)], axis=1)           # nose ridge and base
    around = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    p[76:88] = np.stack([80 + 25 * np.cos(around), 130 + 8 * np.sin(around)], axis=1)  # the lips
    skin = qm.lower_face_skin(p, (160, 160))
    assert skin[145, 80] and skin[100, 40] and skin[100, 120]                          # chin and cheeks
    assert not skin[:60].any()                                                         # nothing above the eyes
    assert not skin[80, 50] and not skin[80, 110] and not skin[130, 80]                # eyes and mouth left out


def test_occluder_pixels_changed_counts_moves_over_one_code_value() -> None:
    plate = _texture()
    mask = np.zeros(plate.shape[:2], bool)
    mask[40:80, 40:80] = True
    out = plate.copy()
    out[40:80, 40:60] += 0.9  # under the 1 code value threshold: unchanged
    out[40:80, 60:70] += 3.0
    assert qm.changed_pixels(out, plate, mask) == (400, 1600)


def test_motion_compensation_removes_a_known_subpixel_move() -> None:
    plate = _texture()
    move = np.array([[1, 0, 2.4], [0, 1, -1.3]])
    moved = cv2.warpAffine(plate, move, (160, 160), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    region = np.zeros(plate.shape[:2], bool)
    region[30:130, 30:130] = True
    identity = np.array([[1, 0, 0], [0, 1, 0]], float)
    assert qm.motion_compensated_change(plate, moved, move, region) < 0.05 * \
        qm.motion_compensated_change(plate, moved, identity, region)
    assert qm.warp_mask(region, move)[31, 33] and not qm.warp_mask(region, move)[31, 31]


def test_grain_correlation_tells_white_noise_from_film_grain() -> None:
    rng = np.random.default_rng(1)
    flat = np.full((200, 200, 3), 128, np.float32)
    white = flat + rng.normal(0, 3, flat.shape).astype(np.float32)
    grain = flat + cv2.GaussianBlur(rng.normal(0, 6, flat.shape).astype(np.float32), (0, 0), 0.9)
    region = np.ones((200, 200), bool)
    assert abs(qm.neighbour_correlation(qm.highpass(white), region)) < 0.15  # the high-pass itself: about -0.09
    assert qm.neighbour_correlation(qm.highpass(grain), region) > 0.3


def test_a_colour_step_at_the_matte_edge_raises_the_seam_gradient_ratio() -> None:
    plate = _texture(2)
    matte = np.zeros((160, 160), np.float32)
    cv2.circle(matte, (80, 80), 40, 1.0, -1)
    matte = cv2.GaussianBlur(matte, (0, 0), 2)
    band = qm.seam_band(matte)

    def seam_ratio(out: np.ndarray) -> float:
        return qm.ratio(qm.gradient_magnitude(out)[band].sum(), qm.gradient_magnitude(plate)[band].sum())

    graded = plate * (1 - matte[:, :, None]) + (plate * 0.98 + 2) * matte[:, :, None]  # matched swap
    stepped = plate + 40 * (matte > 0.5)[:, :, None]  # a brighter face pasted with a hard edge
    assert seam_ratio(graded) < 1.05
    assert seam_ratio(stepped) > 1.15


def test_colour_round_trip_and_variant_placeholders(tmp_path: Path) -> None:
    code = np.linspace(0, 255, 256, dtype=np.float32).reshape(16, 16, 1).repeat(3, axis=2)
    assert np.abs(acescg_to_srgb(srgb_to_acescg(code)) - code).max() < 0.05
    files = [tmp_path / "a b.png", tmp_path / "c.png"]
    assert bench_quality.expand("--x 1", files, tmp_path, "p", add_sources=True) == \
        ["--x", "1", "--source", str(files[0]), "--source", str(files[1])]
    assert bench_quality.expand("--lib {sources}", files, tmp_path, "p", add_sources=True) == \
        ["--lib", str(files[0]), str(files[1])]
    assert bench_quality.parse_named(['old=', 'new=--engine x'], "--variant") == {"old": "", "new": "--engine x"}
    doc = tmp_path / "doc.md"
    doc.write_text(f"# hand\n{bench_quality.RESULTS_START}\nold\n{bench_quality.RESULTS_END}\ntail\n")
    text = bench_quality._doc_text(doc, "NEW\n")
    assert "NEW" in text and "old" not in text and text.startswith("# hand") and text.endswith("tail\n")


def test_judges_tell_people_apart_and_read_open_eyes(asset) -> None:
    from quality_judges import Judges

    judges = Judges(asset("MANIFEST.md").parent)

    def face(name: str):
        rgb = cv2.cvtColor(cv2.imread(str(asset(f"media/face_recognition/{name}"))), cv2.COLOR_BGR2RGB)
        return rgb, max(judges.detect(rgb), key=lambda f: f.box[2])

    (a, fa), (b, fb), (c, fc) = face("obama.jpg"), face("obama2.jpg"), face("biden.jpg")
    same = judges.embedding(a, fa.points5) @ judges.embedding(b, fb.points5)
    different = judges.embedding(a, fa.points5) @ judges.embedding(c, fc.points5)
    assert same > 0.6 and different < 0.34
    assert 0.15 < eye_openness(judges.landmarks98(c, fc.box)) < 0.4
    assert mouth_openness(judges.landmarks98(c, fc.box)) < 0.15  # biden.jpg: lips closed
