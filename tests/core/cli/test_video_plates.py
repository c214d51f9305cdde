"""A video file is a plate for every command, end to end: analyze, render (from a track file made
from the video: the plate check reads frames through the plate, not OpenImageIO) and swap. The
output of a video plate is an EXR sequence, frames 1..N."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.package_faces import write_video

FRAMES = 5


@pytest.fixture(scope="module")
def clip(tmp_path_factory, package_faces) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip_01.mp4", package_faces.person(2), frames=FRAMES)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceplate.core.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def swapped(clip, package_faces, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("swap")
    r = _cli("swap", str(clip), "--source", str(package_faces.astronaut), "--out", str(out / "swap.####.exr"),
             "--contact-sheet", str(out / "contact.png"))
    assert r.returncode == 0, r.stderr
    return out


def test_analyze_reads_a_video_plate(clip, tmp_path):
    from faceplate.core.io.track_file import load_track_file
    r = _cli("analyze", str(clip), "-o", str(tmp_path / "shot.track.json"))
    assert r.returncode == 0, r.stderr
    tf = load_track_file(tmp_path / "shot.track.json")
    assert (tf.plate.first, tf.plate.last) == (1, FRAMES)
    assert len(tf.tracks) == 1 and sorted(tf.tracks[0].entries) == list(range(1, FRAMES + 1))
    xs = [tf.tracks[0].entries[f].landmarks[30, 0] for f in range(1, FRAMES + 1)]
    assert all(1.0 < b - a < 5.0 for a, b in zip(xs, xs[1:])), xs  # the face drifts 3 px a frame


def test_swap_writes_an_exr_sequence_from_a_video(clip, swapped):
    from faceplate.core.io.exr import read_image
    from faceplate.core.io.sequence import PlateSequence
    assert sorted(p.name for p in swapped.glob("swap.*.exr")) == [f"swap.{f:04d}.exr" for f in range(1, FRAMES + 1)]
    assert (swapped / "contact.png").stat().st_size > 0 and (swapped / "shot.track.json").is_file()
    plate = PlateSequence(str(clip))
    for f in (1, FRAMES):
        src, out = plate.read(f), read_image(str(swapped / f"swap.{f:04d}.exr"))
        matte = out.pixels[..., out.channels.index("faceplate.matte")]
        outside = matte == 0
        assert 0.02 < float(np.mean(~outside)) < 0.5  # a face-sized matte
        want = src.pixels[..., :3].astype(np.float16)
        assert np.array_equal(out.pixels[..., :3][outside].astype(np.float16), want[outside])
        assert np.abs(out.pixels[..., :3] - src.pixels[..., :3])[matte > 0.99].mean() > 0.01  # the face changed


def test_render_from_a_video_track_file(clip, swapped, package_faces, tmp_path):
    """Failed before: the plate check opened the movie's 'first frame' with OpenImageIO."""
    out = tmp_path / "render"
    r = _cli("render", str(clip), "--track", str(swapped / "shot.track.json"), "--source",
             str(package_faces.astronaut), "--frames", "2-3", "--out", str(out / "r.####.exr"))
    assert r.returncode == 0, r.stderr
    for f in (2, 3):  # the same job as swap's: byte-identical frames
        assert (out / f"r.{f:04d}.exr").read_bytes() == (swapped / f"swap.{f:04d}.exr").read_bytes()


def test_render_refuses_a_track_file_from_another_video(clip, swapped, package_faces, tmp_path):
    other = write_video(tmp_path / "other.mp4", package_faces.person(2), frames=FRAMES, size=(496, 360))
    r = _cli("render", str(other), "--track", str(swapped / "shot.track.json"), "--source",
             str(package_faces.astronaut), "--out", str(tmp_path / "o" / "o.####.exr"))
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("faceplate: error:")]
    assert r.returncode == 2 and len(lines) == 1 and "another plate" in lines[0], r.stderr
    assert not (tmp_path / "o").exists()
