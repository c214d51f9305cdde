"""The source library end to end: a clip and a still analysed once into a cached source file,
analyze choosing a library frame per entry, and chunked renders byte-identical with it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.core.errors import FaceplateError
from faceplate.core.face import source_library
from tests.core.face.faces import close_eyes, face_photo, find_face

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from render_plates import make_shot  # noqa: E402

pytestmark = pytest.mark.assets


@pytest.fixture(scope="module")
def media(tmp_path_factory, asset):
    """A 6-frame clip of the source (open eyes, then closing) and a still of it."""
    from faceplate.core.models.zoo import load_detector, load_landmarker
    folder = tmp_path_factory.mktemp("source")
    rgb = face_photo(asset, "media/face_recognition/obama.jpg", 160)
    lm, _ = find_face(rgb, load_detector(), load_landmarker())
    clip = str(folder / "obama.mp4")
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"mp4v"), 24, (rgb.shape[1], rgb.shape[0]))
    for amount in (0.0, 0.0, 0.0, 0.9, 0.9, 0.9):
        writer.write(np.ascontiguousarray((close_eyes(rgb, lm, amount) if amount else rgb)[..., ::-1]))
    writer.release()
    still = str(folder / "obama.png")
    cv2.imwrite(still, rgb[..., ::-1])
    return folder, clip, still


def test_library_is_analysed_once_and_reused(media, tmp_path, monkeypatch):
    from faceplate.core.models.zoo import load_detector, load_landmarker
    folder, clip, still = media
    calls = []

    def det():
        calls.append("detector")
        return load_detector()

    lib, path = source_library.load_or_build([clip, still], det, load_landmarker, folder=str(tmp_path),
                                             video_step=1)
    assert [f.frame for f in lib.frames] == [0, 1, 2, 3, 4, 5, None]
    assert all(f.embedding is None for f in lib.frames)   # no recognizer given: none stored
    data = json.loads(Path(path).read_text())
    assert data["format"] == "faceplate.source/1" and len(data["media"]) == 2
    again, path2 = source_library.load_or_build([clip, still], det, load_landmarker, folder=str(tmp_path),
                                                video_step=1)
    assert path2 == path and calls == ["detector"] and again.sha256 == lib.sha256
    # the first build is the library as cached: later analyses choose exactly what the first did
    assert [f.expression for f in again.frames] == [f.expression for f in lib.frames]
    img = again.image_rgb01(4)
    assert img.shape[2] == 3 and img.dtype == np.float32
    # a cache from before the smile or the mouth width was measured is analysed again (the mouth rules
    # need them)
    for field in ("smile", "mouth_width"):
        stale = json.loads(Path(path).read_text())
        for frame in stale["frames"]:
            frame["expression"].pop(field, None)
        Path(path).write_text(json.dumps(stale))
        rebuilt, _ = source_library.load_or_build([clip, still], det, load_landmarker, folder=str(tmp_path),
                                                  video_step=1)
        assert calls[-1] == "detector" and all(np.isfinite(getattr(f.expression, field)) for f in rebuilt.frames)
    assert calls == ["detector"] * 3
    Path(still).write_bytes(Path(still).read_bytes() + b"\0")   # the media changed since
    with pytest.raises(FaceplateError, match="changed"):
        source_library.load(path)
    cv2.imwrite(still, cv2.imread(still))


def test_analyze_chooses_library_frames_and_chunked_renders_are_identical(media, tmp_path, asset, monkeypatch):
    from faceplate.core.cli import main
    from faceplate.core.io.track_file import load_track_file

    monkeypatch.setenv("FACEPLATE_SOURCE_CACHE", str(tmp_path / "cache"))
    folder, clip, _ = media
    shot = make_shot(tmp_path / "shot", asset("media/face_recognition/biden.jpg"), clip, frames=[1001, 1002, 1003])
    track = str(tmp_path / "lib.track.json")
    assert main(["analyze", shot.pattern, "-o", track, "--source", clip]) == 0
    tf = load_track_file(track)
    chosen = [e.source_frame for t in tf.tracks for e in t.entries.values()]
    assert chosen and all(c is not None for c in chosen)
    assert tf.settings["source"]["frames"] == 3                  # every 2nd frame of the 6-frame clip
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["render", shot.pattern, "--track", track, "--engine", "v2", "--source", clip, "--out",
                 str(whole / "o.####.exr")]) == 0
    for rng in ("1001-1001", "1002-1003"):
        assert main(["render", shot.pattern, "--track", track, "--engine", "v2", "--source", clip, "--frames", rng,
                     "--out",
                     str(parts / "o.####.exr")]) == 0
    for f in (1001, 1002, 1003):
        assert (whole / f"o.{f}.exr").read_bytes() == (parts / f"o.{f}.exr").read_bytes()
    # a different source than the one the choices were made for is refused, naming the fix
    other = str(tmp_path / "other.png")
    cv2.imwrite(other, (face_photo(asset, "media/face_recognition/biden.jpg")[..., ::-1]))
    assert main(["render", shot.pattern, "--track", track, "--engine", "v2", "--source", other, "--out",
                 str(tmp_path / "x" / "o.####.exr")]) == 2
