"""Likeness: proportions are pose-normalised, and adjusting moves the actor's inner face to the
source's while the jaw and the expression (lid gap, lip opening) stay the actor's."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.core.face import expression, likeness
from tests.core.face.faces import face_photo, find_face, posed_mean


def test_proportions_do_not_change_with_head_pose():
    front = likeness.proportions(posed_mean(0))
    for yaw, pitch in ((30, 0), (-30, 10), (0, -15)):
        turned = likeness.proportions(posed_mean(yaw, pitch))
        assert all(abs(turned[k] - front[k]) < 1e-6 for k in likeness.NAMES)


def test_adjust_reaches_the_source_proportions_and_keeps_jaw_and_expression(package_faces):
    from faceplate.core.models.zoo import load_detector, load_landmarker
    from tests.core.render_plates import face_crop
    det, lmk = load_detector(), load_landmarker()
    actor, _ = find_face(face_crop(package_faces.person(2), 150), det, lmk)
    source, _ = find_face(face_crop(package_faces.astronaut, 150), det, lmk)
    want, mine = likeness.proportions(source), likeness.proportions(actor)
    before = sum(abs(want[k] - mine[k]) for k in likeness.NAMES)
    full = likeness.adjust(actor, want, strength=1.0)
    got = likeness.proportions(full)
    after = sum(abs(want[k] - got[k]) for k in likeness.NAMES)
    assert after < 0.15 * before
    part = likeness.proportions(likeness.adjust(actor, want, strength=0.5))
    assert abs(sum(abs(want[k] - part[k]) for k in likeness.NAMES) - 0.5 * before) < 0.2 * before
    assert np.array_equal(full[:17], actor[:17])
    assert np.array_equal(likeness.adjust(actor, want, strength=0.0), actor)
    for measure in (lambda p: expression.eye_openness(p, expression.LEFT_EYE), expression.mouth_openness):
        assert abs(measure(full) - measure(actor)) < 0.02


def test_proportions_do_not_change_when_the_jaw_drops():
    """A talking actor is not a long face: the chin and lower lip moving down leave every proportion."""
    face = posed_mean(10, 5)
    talking = face.copy()
    drop = 0.15 * np.linalg.norm(face[16] - face[0])
    talking[list(range(4, 13)) + list(range(55, 60)) + list(range(64, 68)), 1] += drop
    before, after = likeness.proportions(face), likeness.proportions(talking)
    assert all(abs(after[k] - before[k]) < 1e-3 for k in likeness.NAMES), (before, after)


def test_a_turned_face_is_moved_less_and_a_profile_not_at_all():
    """Frontalising a 2-D face with a generic 3-D one fails as the head turns: past 40° of yaw the
    actor's features are left where they are, under 20° they move fully, in between partly."""
    source = likeness.proportions(posed_mean(0))
    source = {n: v * (1.15 if n in ("eye_spacing", "mouth_width") else 1.0) for n, v in source.items()}
    moved = {}
    for yaw in (10.0, 30.0, 45.0):
        face = posed_mean(yaw)
        moved[yaw] = float(np.abs(likeness.adjust(face, source, 1.0) - face).max())
    print({k: round(v, 2) for k, v in moved.items()})
    assert moved[10.0] > 3.0                      # frontal enough: the features move
    assert 0.2 * moved[10.0] < moved[30.0] < 0.8 * moved[10.0]
    assert moved[45.0] == 0.0                     # turned away: the actor's own geometry


def test_a_source_pitch_the_pose_missed_does_not_move_the_actors_eyes():
    """The eye line's height over the ear-level jaw follows the head's pitch, which 2-D landmarks
    estimate poorly: a source seen 12° from below with its pose read as frontal must not lift or
    drop the actor's eyes (nor the brows riding on them)."""
    from faceplate.core.face import warp3d
    actor = posed_mean(0)
    frontal_pose = warp3d.estimate_pose(actor)
    source = likeness.proportions(posed_mean(0, 12), frontal_pose)
    moved = likeness.adjust(actor, source, 1.0, frontal_pose)
    eyes = likeness.L_EYE + likeness.R_EYE
    assert abs(moved[eyes, 1].mean() - actor[eyes, 1].mean()) < 0.01
