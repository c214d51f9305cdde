"""Baking track data into Nuke keys, the one y flip, and key edits coming back as manual entries."""
from __future__ import annotations

import numpy as np

from faceplate.core.io.track_file import load_track_file, save_track_file
import json

from faceplate.nuke import bake, key_edits

from .conftest import make_track_file


def test_y_flip_maps_pixel_centres_and_round_trips():
    dw = (0, 0, 639, 359)  # 640 x 360
    pts = np.array([[0.0, 0.0], [639.0, 359.0], [10.25, 20.5]])
    n = np.array([bake.plate_to_nuke(x, y, dw) for x, y in pts])
    # top-left EXR pixel centre is Nuke (0.5, 359.5); bottom-right is (639.5, 0.5)
    np.testing.assert_allclose(n, [[0.5, 359.5], [639.5, 0.5], [10.75, 339.0]])
    np.testing.assert_allclose([bake.plate_to_nuke(x, y, dw, inverse=True) for x, y in n], pts)
    # a display window not at the origin: Nuke's origin is its bottom-left corner
    dw2 = (100, 50, 739, 409)
    assert bake.plate_to_nuke(100.0, 50.0, dw2) == (0.5, 359.5)
    box = np.array([10.0, 20.0, 110.0, 140.0])
    xyrt = bake.box_to_nuke(box, dw)
    assert xyrt[1] < xyrt[3]  # bottom below top in y-up
    np.testing.assert_allclose(bake.box_from_nuke(xyrt, dw), box)


def plan_of(path):
    return bake.bake_plan(json.loads(path.read_text()))


def test_bake_plan_equals_track_file(tmp_path):
    tf = make_track_file(tmp_path / "t.track.json")
    plans = {p.name: p for p in plan_of(tmp_path / "t.track.json")}
    assert set(plans) == {f"fp_t{t}_{part}" for t in (1, 2) for part in (*bake.POINT_NAMES, "box")}
    dw = tf.plate.display_window
    for track in tf.tracks:
        for i, part in enumerate(bake.POINT_NAMES):
            plan = plans[f"fp_t{track.id}_{part}"]
            assert plan.kind == "XY_Knob"
            for axis in (0, 1):
                frames = [f for f, _ in plan.keys[axis]]
                assert frames == track.frames
                for f, v in plan.keys[axis]:
                    assert v == bake.plate_to_nuke(*track.entries[f].points5[i], dw)[axis]
        box = plans[f"fp_t{track.id}_box"]
        for f in track.frames:
            xyrt = [dict(box.keys[j])[f] for j in range(4)]
            np.testing.assert_allclose(bake.box_from_nuke(xyrt, dw), track.entries[f].box)


def curves_of(path):
    return {p.name: [list(map(tuple, k)) for k in p.keys] for p in plan_of(path)}


def test_unedited_keys_change_nothing(tmp_path):
    tf = make_track_file(tmp_path / "t.track.json")
    # Nuke writes keys as text: rounding to 6 decimals is not an edit
    curves = {k: [[(f, round(v, 4)) for f, v in idx] for idx in c]
              for k, c in curves_of(tmp_path / "t.track.json").items()}
    assert key_edits.apply_key_edits(tf, curves) == []
    assert all(e.source == "detected" for t in tf.tracks for e in t.entries.values())


def test_edited_keys_become_manual_entries(tmp_path):
    path = tmp_path / "t.track.json"
    tf = make_track_file(path)
    before = load_track_file(path)
    curves = curves_of(path)
    # the compositor drags face 2's nose 4 px right and 3 px up (Nuke y-up) at frame 1002
    nose = curves["fp_t2_nose"]
    nose[0] = [(f, v + 4.0 if f == 1002 else v) for f, v in nose[0]]
    nose[1] = [(f, v + 3.0 if f == 1002 else v) for f, v in nose[1]]
    # and widens face 1's box at frame 1003
    box = curves["fp_t1_box"]
    box[2] = [(f, v + 10.0 if f == 1003 else v) for f, v in box[2]]
    changed = key_edits.apply_key_edits(tf, curves)
    assert sorted(changed) == [(1, 1003), (2, 1002)]
    save_track_file(tf, path)
    after = load_track_file(path)
    e = after.track(2).entries[1002]
    assert e.source == "manual"
    old = before.track(2).entries[1002]
    np.testing.assert_allclose(e.points5[2], old.points5[2] + [4.0, -3.0])   # y down in the file
    np.testing.assert_allclose(e.points5[[0, 1, 3, 4]], old.points5[[0, 1, 3, 4]])
    assert not np.allclose(e.landmarks, old.landmarks)                       # landmarks follow the points
    np.testing.assert_allclose(e.points5_raw, old.points5_raw)               # raw kept for reference
    b = after.track(1).entries[1003]
    assert b.source == "manual"
    np.testing.assert_allclose(b.box, before.track(1).entries[1003].box + [0, 0, 10.0, 0])
    # untouched frames stay detected
    assert after.track(1).entries[1001].source == "detected"
    assert after.track(2).entries[1003] == before.track(2).entries[1003]
