"""Re-registering a covered face from its visible pixels: the landmarker's drift under an occluder is
undone, a clear shot is left alone."""
from __future__ import annotations

import numpy as np

from faceplate.core.analyze import occlusion as oc
from faceplate.core.analyze import registration
from faceplate.core.face import warp3d
from faceplate.core.geometry import align
from tests.core.occluded_shot import OCCLUDED, make_shot

PAD = 16
MEAN = warp3d.MEAN_SHAPE_3D[:, :2]


def _landmarks68(points5: np.ndarray) -> np.ndarray:
    """68 points that move exactly with the face: the mean shape placed on its 5 points."""
    return align.transform_points(MEAN, align.estimate_similarity(align.points5_from_landmarks68(MEAN), points5))


def _drifted(shot, eye_px: float, rng) -> list[np.ndarray]:
    """The shot's landmarks as a landmarker gives them: jitter everywhere and, under the object, the
    whole shape dragged a quarter of an eye distance sideways, down and bigger."""
    out = []
    for t, p in enumerate(shot.true_points):
        lm = _landmarks68(p) + rng.normal(0.0, 0.5, (68, 2))
        if t in OCCLUDED:
            c = lm.mean(axis=0)
            lm = c + 1.12 * (lm - c) + np.array([0.25, 0.12]) * eye_px
        out.append(lm)
    return out


def _register(shot, landmarks):
    padded = np.stack([oc.aligned_face(f, lm, pad=PAD) for f, lm in zip(shot.frames, landmarks)])
    return registration.register_piece(padded, PAD, landmarks, oc.detect_for_landmarks)


def _false_cover(masks, landmarks, shot) -> float:
    """Worst frame's share of the face hull flagged where the object is not."""
    worst = 0.0
    for m, lm, occ in zip(masks, landmarks, shot.occluder):
        hull = oc.matte_hull(lm)[0]
        truth = align.warp(occ.astype(np.float32), oc.aligned_transform(lm), oc.ALIGNED_SIZE) > 0.5
        worst = max(worst, float((m & hull & ~truth).sum() / hull.sum()))
    return worst


def test_landmarks_dragged_by_an_occluder_are_put_back_on_the_face():
    eye_px = 110.0
    shot = make_shot("centre", "cup", eye_px=eye_px)
    bad = _drifted(shot, eye_px, np.random.default_rng(3))
    truth = [_landmarks68(p) for p in shot.true_points]
    before_masks = oc.detect_for_landmarks(
        np.stack([oc.aligned_face(f, lm) for f, lm in zip(shot.frames, bad)]), bad)
    fixed_lms, masks, fixed, _ = _register(shot, bad)
    assert set(fixed) == set(OCCLUDED)
    for t in range(len(bad)):
        if t not in OCCLUDED:   # clear frames keep the landmarker's points exactly
            assert np.array_equal(fixed_lms[t], bad[t])
            continue
        before = np.hypot(*(bad[t] - truth[t]).T).mean()
        after = np.hypot(*(fixed_lms[t] - truth[t]).T).mean()
        assert after <= 0.04 * eye_px and after <= 0.2 * before, (t, before, after)
    # the misaligned crops read as covered all over; re-registered, only the object is
    assert _false_cover(before_masks, bad, shot) > 0.15
    assert _false_cover(masks, fixed_lms, shot) <= 0.06


def test_a_clear_shot_is_left_alone_and_registration_is_deterministic():
    shot = make_shot("centre", "none")
    rng = np.random.default_rng(5)
    lms = [_landmarks68(p) + rng.normal(0.0, 0.5, (68, 2)) for p in shot.true_points]
    out, masks, fixed, _ = _register(shot, lms)
    assert fixed == [] and all(np.array_equal(a, b) for a, b in zip(out, lms))
    covered = make_shot("front", "skin")
    bad = _drifted(covered, 110.0, np.random.default_rng(7))
    first, second = _register(covered, bad), _register(covered, [b.copy() for b in bad])
    assert first[2] == second[2] and all(np.array_equal(a, b) for a, b in zip(first[0], second[0]))
    assert first[1].tobytes() == second[1].tobytes()
