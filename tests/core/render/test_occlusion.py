"""Objects in front of the face stay in front: a real face moving with a mug crossing its mouth, through
`faceplate analyze` (which flags the mug per frame in the track file) and `faceplate render` (which keeps
it out of the matte, for every engine); chunked renders stay byte-identical."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.core.cli.__init__ import main
from faceplate.core.io.exr import read_image
from faceplate.core.io.track_file import load_track_file
from tests.core.occluded_shot import FRAMES, OCCLUDED, make_shot
from tests.core.plates import write_exr

FIRST = 1001


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("occluded")
    shot = make_shot("centre", "cup", eye_px=90.0)
    for t, img in enumerate(shot.frames):
        write_exr(folder / f"plate.{FIRST + t:04d}.exr", img)
    return folder, np.stack(shot.occluder)


def _analyze(folder: Path, name: str, *extra: str) -> str:
    track = str(folder / name)
    assert main(["analyze", str(folder / "plate.####.exr"), "-o", track, *extra]) == 0
    return track


@pytest.fixture(scope="module")
def track(plate):
    return _analyze(plate[0], "shot.track.json")


def _render(folder: Path, track: str, out: Path, source: Path, *extra: str) -> Path:
    assert main(["render", str(folder / "plate.####.exr"), "--track", track, "--source", str(source),
                 "--out", str(out / "out.####.exr"), *extra]) == 0
    return out


def _srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return 255.0 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def _occluder_changed(folder: Path, out: Path, occluder: np.ndarray) -> float:
    """Fraction of the mug's pixels (all occluded frames) where the output moved by > 1 sRGB code value."""
    changed = total = 0
    for t in OCCLUDED:
        plate = read_image(str(folder / f"plate.{FIRST + t:04d}.exr")).pixels[..., :3]
        got = read_image(str(out / f"out.{FIRST + t:04d}.exr")).pixels[..., :3]
        moved = np.abs(_srgb(got) - _srgb(plate)).max(axis=2) > 1.0
        changed += int((moved & occluder[t]).sum())
        total += int(occluder[t].sum())
    return changed / total


def test_analyze_flags_the_occluded_frames_only(track):
    tf = load_track_file(track)
    assert len(tf.tracks) == 1
    entries = tf.tracks[0].entries
    flagged = {f - FIRST for f, e in entries.items() if e.occlusion}
    assert flagged and flagged <= set(OCCLUDED) and len(flagged) >= len(OCCLUDED) - 1, sorted(flagged)
    assert all(e.grain is not None and e.grain[:3].min() > 0 for e in entries.values())
    # the plate skin's texture, on every entry (a covered frame's from its neighbours)
    assert all(e.texture is not None and len(e.texture) == 5 and e.texture[1:].min() > 0 for e in entries.values())


@pytest.mark.parametrize("engine", ["classical", "v2"])
def test_occluder_pixels_stay_the_plate(plate, track, package_faces, tmp_path, engine):
    folder, occluder = plate
    extra = ("--engine", "v2") if engine == "v2" else ()
    out = _render(folder, track, tmp_path / engine, package_faces.astronaut, *extra)
    assert _occluder_changed(folder, out, occluder) <= 0.05


def test_without_the_occlusion_pass_the_mug_is_painted_over(plate, package_faces, tmp_path):
    """The same shot analysed with --no-occlusion: the swap lands on the mug (what the pass prevents)."""
    folder, occluder = plate
    track = _analyze(folder, "plain.track.json", "--no-occlusion")
    assert not any(e.occlusion for e in load_track_file(track).tracks[0].entries.values())
    out = _render(folder, track, tmp_path / "plain", package_faces.astronaut)
    assert _occluder_changed(folder, out, occluder) > 0.3


def test_chunked_render_with_occlusion_is_byte_identical(plate, track, package_faces, tmp_path):
    folder, _ = plate
    source = package_faces.astronaut
    full = _render(folder, track, tmp_path / "full", source, "--engine", "v2")
    chunks = tmp_path / "chunks"
    last = FIRST + FRAMES - 1
    for a, b in ((FIRST, FIRST + 8), (FIRST + 9, FIRST + 9), (FIRST + 10, last)):   # cuts through the mug
        _render(folder, track, chunks, source, "--engine", "v2", "--frames", f"{a}-{b}")
    names = sorted(p.name for p in full.glob("out.*.exr"))
    assert len(names) == FRAMES
    assert all((full / n).read_bytes() == (chunks / n).read_bytes() for n in names)


def test_v2_limits_the_skin_texture_to_the_track_files(plate, track, package_faces, tmp_path):
    """Render reads the plate skin's texture from the track entry (analyze's, smoothed over the shot):
    the same frame with a smoother figure stored renders a smoother skin."""
    import dataclasses

    from faceplate.core.io.track_file import save_track_file

    folder, _ = plate
    tf = load_track_file(track)
    t = tf.tracks[0]
    t.entries = {f: dataclasses.replace(e, texture=e.texture * 0.3) for f, e in t.entries.items()}
    smoother = str(tmp_path / "smoother.track.json")
    save_track_file(tf, smoother)
    frame = ("--engine", "v2", "--frames", f"{FIRST}-{FIRST}", "--no-regrain")
    outs = [_render(folder, tr, tmp_path / name, package_faces.astronaut, *frame)
            for name, tr in (("stored", track), ("smoother", smoother))]
    got = [read_image(str(o / f"out.{FIRST:04d}.exr")) for o in outs]
    matte = got[0].pixels[..., got[0].channels.index("faceplate.matte")] > 0.99
    fine = [np.abs(g.pixels[..., 1] - cv2.GaussianBlur(g.pixels[..., 1], (0, 0), 2.0))[matte].mean() for g in got]
    print(f"fine detail inside the matte: stored texture {fine[0]:.5f}, a third of it {fine[1]:.5f}")
    assert fine[1] < 0.9 * fine[0]
