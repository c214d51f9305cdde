"""Brow points lifted onto raised brows the landmarker lags behind, and never pulled into a fringe
or down into the eye socket. Real faces: the packaged astronaut and the group photo."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.face import brows, warp3d
from tests.core.face.faces import add_fringe, find_face


@pytest.fixture(scope="module")
def faces(package_faces):
    """[(rgb8, landmarks)] for the astronaut and each group-photo face big enough to see brows."""
    from faceplate.core.models.zoo import load_detector, load_landmarker
    from faceplate.core.analyze.pyramid import detect_faces

    det, lmk = load_detector(), load_landmarker()
    out = []
    astronaut = cv2.cvtColor(cv2.imread(str(package_faces.astronaut)), cv2.COLOR_BGR2RGB)
    out.append((astronaut, find_face(astronaut, det, lmk)[0]))
    group = cv2.cvtColor(cv2.imread(str(package_faces.group)), cv2.COLOR_BGR2RGB)
    for d in detect_faces(det, group, min_face=40):
        out.append((group, np.asarray(lmk.landmarks(group, d), np.float64)))
    return out


def _up_and_distance(lm):
    up, distance = brows._axes(lm)
    return up, distance


def _lift(before, after):
    """How far each brow moved up, in eye distances."""
    up, distance = _up_and_distance(before)
    return [float(np.mean((after[list(b)] - before[list(b)]) @ up)) / distance for b in brows.BROWS]


def _raise_brows(rgb8, lm, amount):
    """The photo with both brows (and the forehead above them) moved up by ``amount`` eye distances."""
    up, distance = _up_and_distance(lm)
    raised = lm.copy()
    raised[17:27] += amount * distance * up
    tri = warp3d.triangles(warp3d.mesh_points(warp3d.MEAN_SHAPE_3D[:, :2]))
    mx, my, w = warp3d.piecewise_map(warp3d.mesh_points(raised), warp3d.mesh_points(lm), tri, rgb8.shape[:2])
    moved = cv2.remap(rgb8, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.where((w > 0)[..., None], moved, rgb8)


def test_brows_the_landmarker_fits_stay_where_they_are(faces):
    lifts = [_lift(lm, brows.lift_to_image(rgb, lm)) for rgb, lm in faces]
    print("lifts on fitted faces (eye distances):", np.round(lifts, 3).tolist())
    assert len(faces) >= 5
    assert np.max(lifts) < 0.03
    assert np.min(lifts) >= 0.0          # never lowered


def test_a_raised_brow_the_points_lag_behind_gets_its_points_back(faces):
    """The image's brows go up 0.18 eye distances, the points stay (the landmarker's lag): the
    lift brings them up by that much, within 0.05."""
    rgb, lm = faces[0]
    resting = _lift(lm, brows.lift_to_image(rgb, lm))
    raised = _lift(lm, brows.lift_to_image(_raise_brows(rgb, lm, 0.18), lm))
    print("resting", np.round(resting, 3), "raised", np.round(raised, 3))
    for r, q in zip(resting, raised):
        assert abs((q - r) - 0.18) < 0.05


def test_a_fringe_above_the_brows_does_not_pull_them_up(faces):
    rgb, lm = faces[0]
    fringed, _ = add_fringe(rgb, lm, colour=(60, 45, 30))      # dark hair down to just above the brows
    assert max(_lift(lm, brows.lift_to_image(fringed, lm))) < 0.03


def test_points_above_the_brows_are_never_pulled_down(faces):
    for rgb, lm in faces:
        up, distance = _up_and_distance(lm)
        high = lm.copy()
        high[17:27] += 0.12 * distance * up
        moved = (brows.lift_to_image(rgb, high) - high)[17:27] @ up
        assert moved.min() >= 0.0


def test_a_face_without_brows_or_too_small_is_left_alone(faces):
    rgb, lm = faces[0]
    flat = np.full_like(rgb, 128)
    np.testing.assert_array_equal(brows.lift_to_image(flat, lm), lm)
    tiny = lm.mean(axis=0) + (lm - lm.mean(axis=0)) * 0.05
    np.testing.assert_array_equal(brows.lift_to_image(rgb, tiny), tiny)


class _LaggingLandmarker:
    """The packaged landmarker with its brow points pulled down by ``lag`` eye distances: the
    landmarker of a raised-brow frame, whose points sit on the skin below the brows."""

    def __init__(self, real, lag: float):
        self.real, self.lag = real, lag

    def landmarks(self, image, detection):
        lm = np.asarray(self.real.landmarks(image, detection), np.float64).reshape(68, 2).copy()
        up, distance = _up_and_distance(lm)
        lm[17:27] -= self.lag * distance * up
        return lm


def test_source_frames_and_plate_tracks_both_carry_lifted_brows(faces, tmp_path):
    """Wiring: what the landmarker gives is lifted before it is stored, in a source library's frames
    and in a plate's tracks alike, so the source's brows go where the actor's are. The landmarker
    here does not follow the raise at all (a real one follows part of it)."""
    from faceplate.core.analyze.pipeline import AnalyzeSettings, analyze
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.face import source_library
    from faceplate.core.io.sequence import PlateSequence
    from faceplate.core.models.zoo import load_detector, load_landmarker, load_recognizer
    from tests.core.plates import write_exr

    rgb, lm = faces[0]
    raised = _raise_brows(rgb, lm, 0.18)
    det, real = load_detector(), load_landmarker()
    lagging = _LaggingLandmarker(real, float(np.mean(_lift(lm, find_face(raised, det, real)[0]))))
    assert max(np.abs(_lift(lm, find_face(raised, det, lagging)[0]))) < 0.02

    still = tmp_path / "raised.png"
    cv2.imwrite(str(still), raised[..., ::-1])
    library = source_library.build_library([str(still)], det, lagging)
    assert min(_lift(lm, library.frames[0].landmarks)) > 0.05

    for f in (1001, 1002):
        write_exr(str(tmp_path / f"plate.{f}.exr"), ColourPipeline().from_uint8(raised))
    track = analyze(PlateSequence(str(tmp_path / "plate.####.exr")), AnalyzeSettings(), det, lagging,
                    load_recognizer(), progress=False).tracks[0]
    raw = np.asarray(track.entries[1001].landmarks_raw, np.float64).reshape(68, 2)
    assert min(_lift(lm, raw)) > 0.05
