"""`faceplate analyze` end to end on real faces moving along known paths in real EXR plates."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from faceplate.core.analyze.pipeline import AnalyzeSettings, analyze
from faceplate.core.analyze.cuts import frame_signature, signature_distance
from faceplate.core.cli.__init__ import main
from faceplate.core.io.sequence import PlateSequence
from faceplate.core.io.track_file import load_track_file, save_track_file
from tests.core.plates import Placement, load_actor, make_plate, smooth_path



@pytest.fixture(scope="module")
def models():
    from faceplate.core.models.zoo import load_detector, load_landmarker, load_recognizer
    return load_detector(), load_landmarker(), load_recognizer()


@pytest.fixture(scope="module")
def actors(package_faces):
    """Faces the installed packages carry: the scikit-image astronaut and three people of the
    insightface group photo (reference points: dlib's 68 on each still)."""
    import dataclasses
    return {name: dataclasses.replace(load_actor(path, margin=margin), name=name) for name, path, margin in (
        ("astronaut", package_faces.astronaut, 1.0), ("aniston", package_faces.person(0), 0.5),
        ("schwimmer", package_faces.person(2), 0.45), ("leblanc", package_faces.person(4), 0.45))}


def _run(plate, models, **kw):
    det, lmk, rec = models
    return analyze(PlateSequence(plate.pattern), AnalyzeSettings(**kw), det, lmk, rec, progress=False)


def _nme(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean point error over the outer-eye-corner distance (iBUG 36-45)."""
    return float(np.mean(np.linalg.norm(pred - truth, axis=1)) / np.linalg.norm(truth[36] - truth[45]))


# ----------------------------------------------------------------------------------------------
# One face moving (translation, zoom, roll), then leaving frame
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def single(tmp_path_factory, actors):
    path = smooth_path(14, (170, 190, 110, -12), (430, 170, 150, 12), wobble=10)
    path += [(560 + 70 * k, 170, 150, 12) for k in range(4)]  # exits right: partly, then fully out
    scene = [[Placement(actors["astronaut"], *p)] for p in path]
    return make_plate(tmp_path_factory.mktemp("single"), scene, extra={"depth.Z": 3.0})


@pytest.fixture(scope="module")
def single_result(single, models):
    return _run(single, models)


def test_detection_recall_and_landmarks_vs_known_transform(single, single_result):
    tf = single_result
    assert len(tf.tracks) == 1, "one person must be one track id"
    track = tf.tracks[0]
    visible = [f for f in single.frames if single.truth[f][0].visible]
    assert len(visible) >= 14
    detected = [f for f in visible if f in track.entries and track.entries[f].source == "detected"]
    assert len(detected) / len(visible) >= 0.95
    raw = [_nme(track.entries[f].landmarks_raw, single.truth[f][0].landmarks) for f in detected]
    smooth = [_nme(track.entries[f].landmarks, single.truth[f][0].landmarks) for f in detected]
    # Truth = dlib's points on the still moved by the known transform: this checks that analysis maps
    # landmarks back to plate pixels through translation, zoom and roll (accuracy against hand labels
    # is tests/core/models/test_landmarkers.py's job)
    assert np.mean(raw) < 0.10 and max(raw) < 0.16
    assert np.mean(smooth) <= np.mean(raw) * 1.1
    gone = [f for f in single.frames if single.truth[f][0].box[0] > 640]
    assert gone and not any(f in track.entries for f in gone), "no entry once the face has left frame"
    assert tf.cuts == []
    assert tf.plate.width == 640 and tf.plate.data_window == (0, 0, 639, 359)
    assert tf.models["landmarker"]["sha256"] and tf.plate.fingerprint


def test_track_file_round_trip_from_analysis(single_result, tmp_path):
    path = tmp_path / "shot.track.json"
    save_track_file(single_result, path)
    assert load_track_file(path) == single_result
    data = json.loads(path.read_text())
    assert data["plate"]["frames"] == [1001, 1018, 1] and data["settings"]["smoothing"] == 1.0


# ----------------------------------------------------------------------------------------------
# Two people crossing; target face
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crossing(tmp_path_factory, actors):
    scene = []
    for i in range(14):
        t = i / 13
        scene.append([Placement(actors["schwimmer"], 110 + 420 * t, 115, 100, 0),
                      Placement(actors["leblanc"], 530 - 420 * t, 245, 100, 0)])
    return make_plate(tmp_path_factory.mktemp("crossing"), scene)


@pytest.fixture(scope="module")
def crossing_result(crossing, models):
    return _run(crossing, models)


def _owner(track, plate) -> set[str]:
    """Which actor each entry of a track lies on (nearest ground-truth face)."""
    names = set()
    for f, e in track.entries.items():
        if not plate.truth[f]:
            continue  # an interpolated frame where the face was hidden
        d = [np.mean(np.linalg.norm(e.landmarks_raw - t.landmarks, axis=1)) for t in plate.truth[f]]
        names.add(plate.truth[f][int(np.argmin(d))].actor)
    return names


def test_two_people_crossing_keep_two_ids(crossing, crossing_result):
    tracks = crossing_result.tracks
    assert len(tracks) == 2
    owners = [_owner(t, crossing) for t in tracks]
    assert sorted(o.pop() for o in owners if len(o) == 1) == ["leblanc", "schwimmer"], owners
    for t in tracks:
        assert len(t.entries) >= 13


def test_target_face_keeps_only_that_person(crossing, models, package_faces, tmp_path):
    import cv2
    # Another image of him: a wider, mirrored, darker, half-size cut of the group photo.
    wide = cv2.imread(str(package_faces.person(2, margin=0.9)))[:, ::-1]
    ref = tmp_path / "him.jpg"
    assert cv2.imwrite(str(ref), cv2.convertScaleAbs(cv2.resize(wide, None, fx=0.5, fy=0.5), alpha=0.8))
    tf = _run(crossing, models, target_face=str(ref))
    assert len(tf.tracks) == 1 and _owner(tf.tracks[0], crossing) == {"schwimmer"}
    target = tf.settings["target"]
    assert target["tracks"] == [tf.tracks[0].id] and target["sha256"]


# ----------------------------------------------------------------------------------------------
# Cut, gap, re-link
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cut_plate(tmp_path_factory, actors):
    scene = []
    for i in range(16):
        if i < 10:
            scene.append([] if i in (4, 5) else [Placement(actors["schwimmer"], 250 + 8 * i, 180, 120, 0)])
        else:  # new shot: Einstein appears, Obama is back elsewhere
            scene.append([Placement(actors["aniston"], 180, 190, 120, 0),
                          Placement(actors["schwimmer"], 470, 170, 110, 0)])
    return make_plate(tmp_path_factory.mktemp("cut"), scene, cuts=[10])


def test_cut_resets_gap_interpolated_identity_relinks(cut_plate, models):
    tf = _run(cut_plate, models)
    assert tf.cuts == [1011] == cut_plate.cuts
    by_owner = {}
    for t in tf.tracks:
        (owner,) = _owner(t, cut_plate)
        by_owner[owner] = t
    assert sorted(by_owner) == ["aniston", "schwimmer"] and len(tf.tracks) == 2
    him = by_owner["schwimmer"]
    assert [him.entries[f].source for f in (1004, 1005, 1006, 1007)] == \
        ["detected", "interpolated", "interpolated", "detected"]
    assert him.entries[1005].score == 0.0
    assert 1011 in him.entries, "same person after the cut keeps the id"
    # reset at the cut: the face jumped 200 px; smoothing must not drag either side towards the other
    before, after = him.entries[1010], him.entries[1011]
    for e, f in ((before, 1010), (after, 1011)):
        assert _nme(e.landmarks, cut_plate.truth[f][-1].landmarks) < 0.15
    assert min(by_owner["aniston"].entries) == 1011


def test_cut_signature_separates_shots(cut_plate):
    import OpenImageIO as oiio
    from faceplate.core.colour import ColourPipeline
    cp = ColourPipeline()
    sig = {}
    for f in (1009, 1010, 1011):
        px = oiio.ImageBuf(cut_plate.path(f)).get_pixels(oiio.FLOAT)[..., :3]
        sig[f] = frame_signature(cp.to_uint8(px))
    assert signature_distance(sig[1009], sig[1010]) < 0.2 < 0.45 < signature_distance(sig[1010], sig[1011])


# ----------------------------------------------------------------------------------------------
# Anamorphic + overscan; NaN/Inf; no face
# ----------------------------------------------------------------------------------------------

def test_pixel_aspect_and_data_window_map_back_to_plate_pixels(tmp_path, actors, models):
    path = smooth_path(6, (260, 150, 140, -5), (380, 200, 160, 5))
    plate = make_plate(tmp_path, [[Placement(actors["astronaut"], *p)] for p in path], origin=(-40, -20),
                       display=(0, 0, 599, 319), pixel_aspect=2.0)
    tf = _run(plate, models)
    assert tf.plate.pixel_aspect == 2.0 and tf.plate.data_window == plate.data_window
    (track,) = tf.tracks
    for f in plate.frames:
        truth = plate.truth[f][0].landmarks  # stored (squeezed) absolute pixel coordinates
        err = np.abs(track.entries[f].landmarks_raw - truth)
        # x errors halve in squeezed pixels; the threshold is in inter-ocular units of square pixels
        assert np.mean(err[:, 0]) < 4 and np.mean(err[:, 1]) < 8


def test_nan_inf_pixels_are_ignored(tmp_path, actors, models, caplog):
    scene = [[Placement(actors["astronaut"], 400, 180, 130, 0)]] * 4
    plate = make_plate(tmp_path, scene, nan_box=(0, 0, 200, 360))
    with caplog.at_level(logging.WARNING, logger="faceplate.analyze"):
        tf = _run(plate, models)
    assert len(tf.tracks) == 1 and len(tf.tracks[0].entries) == 4
    assert "NaN/Inf" in caplog.text


def test_no_face_gives_valid_empty_file_and_warning(tmp_path, caplog):
    make_plate(tmp_path / "p", [[]] * 3)
    out = tmp_path / "shot.track.json"
    with caplog.at_level(logging.WARNING, logger="faceplate.analyze"):
        assert main(["analyze", str(tmp_path / "p" / "plate.####.exr"), "--frames", "1001-1003", "-o", str(out)]) == 0
    tf = load_track_file(out)
    assert tf.tracks == [] and tf.plate.first == 1001 and tf.plate.last == 1003
    assert "no face found" in caplog.text


# ----------------------------------------------------------------------------------------------
# CLI: preview, bad input
# ----------------------------------------------------------------------------------------------

def test_cli_writes_track_file_and_previews(single, tmp_path):
    out, prev = tmp_path / "shot.track.json", tmp_path / "preview"
    assert main(["analyze", single.pattern, "--frames", "1001-1004", "-o", str(out), "--preview", str(prev),
                 "--smoothing", "0.5", "--max-gap", "4"]) == 0
    tf = load_track_file(out)
    assert tf.settings["smoothing"] == 0.5 and tf.settings["max_gap"] == 4 and len(tf.tracks) == 1
    pngs = sorted(p.name for p in prev.iterdir())
    assert pngs == [f"preview.{f:04d}.png" for f in range(1001, 1005)]
    import cv2
    img = cv2.imread(str(prev / "preview.1002.png"))
    x0, y0, x1, y1 = (int(round(v)) for v in tf.tracks[0].entries[1002].box)
    edge = img[y0 - 1:y0 + 2, x0 + 5:x1 - 5].reshape(-1, 3)
    close = np.abs(edge.astype(int) - [80, 80, 255]).max(axis=1) < 40  # BGR of track 1's colour
    assert close.any(), "the track's box is drawn in its colour"


def _fails(argv, capsys, *needles):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    msg = [line for line in err if line.startswith("faceplate: error:")]
    assert len(msg) == 1, err
    for n in needles:
        assert n in msg[0], msg[0]


def test_bad_input_one_line_errors_nothing_written(single, tmp_path, capsys):
    out = tmp_path / "shot.track.json"
    # missing frame
    _fails(["analyze", single.pattern, "--frames", "1001-1030", "-o", str(out)], capsys, "1019", "missing")
    # corrupt / truncated EXR
    bad = tmp_path / "bad"
    bad.mkdir()
    import shutil
    for f in (1001, 1002):
        shutil.copy(single.path(f), bad / f"plate.{f:04d}.exr")
    data = (bad / "plate.1002.exr").read_bytes()
    (bad / "plate.1002.exr").write_bytes(data[: len(data) // 2])
    _fails(["analyze", str(bad / "plate.####.exr"), "--frames", "1001-1002", "-o", str(out)], capsys, "plate.1002.exr")
    # wrong model file
    junk = tmp_path / "detector.onnx"
    junk.write_bytes(b"not a model")
    _fails(["analyze", single.pattern, "--frames", "1001-1002", "-o", str(out), "--detector", str(junk)],
           capsys, "detector.onnx")
    # target face that is not a face / not there
    _fails(["analyze", single.pattern, "--frames", "1001-1002", "-o", str(out), "--target-face",
            str(tmp_path / "nobody.jpg")], capsys, "nobody.jpg")
    assert not out.exists()
    assert not list(tmp_path.glob(".shot*")), "no temp file left behind"


def test_face_entering_while_another_is_tracked_is_found(tmp_path, actors, models):
    """Between full scans detection searches only near the tracked faces' size: a small newcomer
    must still be found at the next full scan (within full_scan_every frames)."""
    scene = []
    for i in range(12):
        pl = [Placement(actors["schwimmer"], 200, 180, 170, 0)]
        if i >= 2:
            pl.append(Placement(actors["astronaut"], 500, 150, 60, 0))
        scene.append(pl)
    plate = make_plate(tmp_path, scene)
    tf = _run(plate, models, full_scan_every=4)
    assert len(tf.tracks) == 2
    small = min(tf.tracks, key=lambda t: np.mean([e.box[2] - e.box[0] for e in t.entries.values()]))
    assert min(small.entries) <= 1001 + 2 + 4 and max(small.entries) == 1012


def test_non_finite_settings_and_bad_preview_folder_are_one_line_errors(single, tmp_path, capsys):
    out = tmp_path / "shot.track.json"
    # NaN used to run the whole analysis and then crash with a ValueError traceback in save_track_file
    _fails(["analyze", single.pattern, "--frames", "1001-1002", "-o", str(out), "--smoothing", "nan"],
           capsys, "--smoothing")
    _fails(["analyze", single.pattern, "--frames", "1001-1002", "-o", str(out), "--min-face", "nan"],
           capsys, "--min-face")
    assert not out.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the preview folder should be
    _fails(["analyze", single.pattern, "--frames", "1001-1001", "-o", str(out), "--preview", str(blocker / "prev")],
           capsys, "prev", "preview")


def test_a_weak_face_seen_once_or_twice_in_a_long_shot_is_not_swapped():
    """A detection at 0.63 in one frame of 36 (a fist) and two at 0.8 (the back of a head, as on the
    Tears of Steel plate) are dropped; the same in a two-frame analysis, a sure detection seen once, and
    a weak face seen in many frames are kept."""
    import numpy as np

    from faceplate.core.analyze.targets import weak_tracks
    from faceplate.core.types import FaceEntry, Track

    def track(track_id, scores, interpolated=0):
        entries = {}
        for i, score in enumerate(scores + [0.0] * interpolated):
            box = np.array([10.0, 10.0, 60.0, 60.0])
            p5 = np.zeros((5, 2))
            entries[1001 + i] = FaceEntry(1001 + i, "detected" if i < len(scores) else "interpolated", score,
                                          box, box.copy(), p5, p5.copy(), np.zeros((68, 2)), np.zeros((68, 2)))
        return Track(track_id, np.zeros(128, np.float32), entries)

    tracks = [track(1, [0.99] * 36), track(2, [0.63]), track(3, [0.83, 0.78], interpolated=3),
              track(4, [0.95]), track(5, [0.7] * 12)]
    assert sorted(weak_tracks(tracks, 36)) == [2, 3]
    assert weak_tracks(tracks, 36)[3] == {"detections": 2, "best_score": 0.83}
    assert weak_tracks(tracks, 2) == {}      # a short analysis keeps whatever it finds
