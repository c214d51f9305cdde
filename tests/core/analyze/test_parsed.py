"""A face parser's glasses and hair stored as occlusion (analyze/parsed): glasses worn the whole shot
are part of the track's median face, so only the parser finds them; render then keeps them."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.analyze import parsed
from faceplate.core.analyze.occlusion import ALIGNED_SIZE, STORE_SIZE, aligned_transform
from faceplate.core.colour import ColourPipeline
from faceplate.core.geometry import align
from faceplate.core.models.zoo import load_parser
from tests.core.t1_faces import face_crop
from tests.fakes.parser import glasses_where_green

GREEN = np.array([0.0, 0.6, 0.0], np.float32)   # linear: a saturated green rim


def _rims(points5: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: two lens rims around the eyes and a bridge, as thin lines (about 5 % of the eye
    distance), the shape of a pair of glasses."""
    p = np.asarray(points5, np.float64)
    d = float(np.hypot(*(p[1] - p[0])))
    mask = np.zeros(shape, np.uint8)
    thick = max(int(round(0.05 * d)), 2)
    for eye in p[:2]:
        cv2.ellipse(mask, (int(round(eye[0])), int(round(eye[1] + 0.05 * d))),
                    (int(round(0.4 * d)), int(round(0.3 * d))), 0, 0, 360, 1, thick)
    y = int(round(p[:2, 1].mean()))
    cv2.line(mask, (int(round(p[0, 0] + 0.4 * d)), y), (int(round(p[1, 0] - 0.4 * d)), y), 1, thick)
    return mask > 0


def _wearing(face: np.ndarray, rims: np.ndarray) -> np.ndarray:
    out = face.copy()
    out[rims] = GREEN
    return out


@pytest.fixture(scope="module")
def parser(tmp_path_factory):
    return load_parser(glasses_where_green(tmp_path_factory.mktemp("parser") / "bisenet.onnx"))


def _cells(pixels: np.ndarray, points5: np.ndarray) -> np.ndarray:
    """(STORE, STORE) bool: the stored grid's cells holding any of ``pixels`` ((h, w) bool)."""
    ys, xs = np.nonzero(pixels)
    q = align.transform_points(np.stack([xs, ys], 1).astype(np.float64), aligned_transform(points5))
    q = np.floor((q + 0.5) / (ALIGNED_SIZE / STORE_SIZE)).astype(int)
    inside = (q >= 0).all(axis=1) & (q < STORE_SIZE).all(axis=1)
    cells = np.zeros((STORE_SIZE, STORE_SIZE), bool)
    cells[q[inside, 1], q[inside, 0]] = True
    return cells


def test_the_rims_are_found_and_nothing_else(parser):
    face, p5 = face_crop("centre")
    rims = _rims(p5, face.shape[:2])
    mask = parsed.parsed_mask(parser, ColourPipeline(), _wearing(face, rims), p5)
    want = _cells(rims, p5)
    assert want.sum() > 40
    assert (mask >= want).all(), "every stored cell holding a rim pixel is set"
    near = cv2.dilate(want.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert not (mask & ~near).any(), "nothing away from the rims (the skin, eyes, mouth) is set"


def test_a_bare_face_or_other_regions_give_nothing(parser):
    face, p5 = face_crop("centre")
    colour = ColourPipeline()
    assert not parsed.parsed_mask(parser, colour, face, p5).any()
    worn = _wearing(face, _rims(p5, face.shape[:2]))
    assert not parsed.parsed_mask(parser, colour, worn, p5, regions=("hair",)).any()


def test_a_mask_moves_with_landmarks_re_registered_after_parsing(parser):
    """Occlusion re-registers a covered face's landmarks after the parser ran: the parser's mask
    is carried into the new landmarks' square, every rim cell still covered there."""
    face, p5 = face_crop("centre")
    rims = _rims(p5, face.shape[:2])
    mask = parsed.parsed_mask(parser, ColourPipeline(), _wearing(face, rims), p5)
    turn = cv2.getRotationMatrix2D(tuple(p5.mean(axis=0)), 4.0, 1.03)
    new = align.transform_points(p5, turn) + [3.0, -2.0]
    moved = parsed.reframe(mask, p5, new)
    want = _cells(rims, new)
    assert (moved >= want).all(), "every rim cell in the new square is set"
    near = cv2.dilate(want.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert not (moved & ~near).any()
    assert not (mask >= want).all(), "without the move the mask would miss rim cells"
    np.testing.assert_array_equal(parsed.reframe(np.zeros_like(mask), p5, new), np.zeros_like(mask))


def test_steady_drops_one_frame_specks_and_fills_one_frame_holes():
    m = np.zeros((5, 4, 4), bool)
    m[:, 0, 0] = True
    m[2, 0, 0] = False          # a one-frame miss
    m[2, 3, 3] = True           # a one-frame speck
    m[0, 1, 1] = True           # the first frame is kept as it is
    s = parsed.steady(m)
    assert s[:, 0, 0].all() and not s[:, 3, 3].any() and s[0, 1, 1]
    assert (parsed.steady(m[:2]) == m[:2]).all()


def test_glasses_found_by_the_parser_stay_the_plates_through_analyze_and_render(package_faces, tmp_path):
    """Glasses worn all shot: without a parser the swap paints over the rims; with ``analyze --parser``
    every rim pixel of the render is the plate's, bit for bit, and the track file says which parser."""
    from faceplate.core.cli import main
    from faceplate.core.io.exr import read_image
    from faceplate.core.io.track_file import load_track_file
    from tests.core.plates import write_exr

    face, p5 = face_crop("centre", size=300, eye_distance=80.0)
    frames = [1001, 1002, 1003, 1004]
    rims = {}
    for i, f in enumerate(frames):   # the face and its glasses drift 2 px a frame
        m = np.float32([[1, 0, 2 * i], [0, 1, i]])
        moved = cv2.warpAffine(face, m, (300, 300), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        rims[f] = _rims(p5 + m[:, 2], moved.shape[:2])
        write_exr(str(tmp_path / f"plate.{f}.exr"), _wearing(moved, rims[f]))
    pattern = str(tmp_path / "plate.####.exr")
    onnx_file = tmp_path / "bisenet.onnx"
    glasses_where_green(onnx_file)

    def swapped(with_parser: bool) -> dict:
        name = "parsed" if with_parser else "plain"
        track = str(tmp_path / f"{name}.track.json")
        assert main(["analyze", pattern, "-o", track] + (["--parser", str(onnx_file)] if with_parser else [])) == 0
        out = str(tmp_path / name / "o.####.exr")
        assert main(["render", pattern, "--track", track, "--source", str(package_faces.astronaut), "--out", out]) == 0
        return {"track": load_track_file(track),
                **{f: read_image(out.replace("####", str(f))).pixels[..., :3] for f in frames}}

    plain, kept = swapped(False), swapped(True)
    assert kept["track"].models["parser"]["name"] == "bisenet.onnx"
    assert kept["track"].settings["parser_regions"] == ["glasses", "hair"]
    assert all(e.occlusion for t in kept["track"].tracks for e in t.entries.values())
    changed = []
    for f in frames:
        plate = read_image(pattern.replace("####", str(f))).pixels[..., :3]
        changed.append(np.abs(plain[f] - plate).max(axis=-1)[rims[f]].mean() > 0)
        assert np.array_equal(kept[f][rims[f]], plate[rims[f]]), f"frame {f}: a rim pixel was swapped"
        assert not np.array_equal(kept[f], plate), f"frame {f}: the face around the glasses is still swapped"
    assert all(changed), "without the parser the swap paints over the rims (the test would show nothing)"


def test_the_parsers_mask_follows_a_face_that_occlusion_re_registers(tmp_path, monkeypatch):
    """Analyze wiring: the parser runs on the landmarks a face was found at; when the occlusion pass
    then re-registers a frame's landmarks (here forced: 6 px right, 4 px down), the stored mask is
    the one for the stored landmarks, every rim cell set in their square."""
    from faceplate.core.analyze import registration
    from faceplate.core.cli import main
    from faceplate.core.geometry.align import points5_from_landmarks68
    from faceplate.core.io.track_file import decode_mask, load_track_file
    from tests.core.plates import write_exr

    face, p5 = face_crop("centre", size=300, eye_distance=80.0)
    frames = [1001, 1002, 1003, 1004]
    rims = _rims(p5, face.shape[:2])
    for f in frames:
        write_exr(str(tmp_path / f"plate.{f}.exr"), _wearing(face, rims))
    onnx_file = tmp_path / "bisenet.onnx"
    glasses_where_green(onnx_file)
    real = registration.register_piece

    def re_registering(padded, pad, landmarks, detect, rounds=3):
        lms, masks, fixed, final = real(padded, pad, landmarks, detect, rounds)
        lms = list(lms)
        lms[2] = np.asarray(lms[2], np.float64) + [6.0, 4.0]
        return lms, masks, sorted(set(fixed) | {2}), final

    monkeypatch.setattr(registration, "register_piece", re_registering)
    track = str(tmp_path / "parsed.track.json")
    assert main(["analyze", str(tmp_path / "plate.####.exr"), "-o", track, "--parser", str(onnx_file)]) == 0
    entries = load_track_file(track).tracks[0].entries
    for f in frames:
        stored = points5_from_landmarks68(np.asarray(entries[f].landmarks, np.float64).reshape(68, 2))
        mask, want = decode_mask(entries[f].occlusion), _cells(rims, stored)
        assert (mask >= want).all(), f"frame {f}: rim cells missing from the stored mask"
    shifted = (np.asarray(entries[1003].landmarks) - np.asarray(entries[1002].landmarks)).reshape(68, 2)
    assert np.allclose(shifted.mean(axis=0), [6.0, 4.0], atol=0.5)   # the forced re-registration was stored
