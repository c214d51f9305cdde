"""Farm faults (issue 12): a re-queued render beside a live one, a truncated frame under --resume,
stale temp files, 8-bit plates, NaN plate pixels.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceplate.core.cli import main
from tests.core.small_shot import make_small_shot


FRAMES = list(range(1001, 1009))


@pytest.fixture(scope="module")
def shot(tmp_path_factory, package_faces):
    return make_small_shot(tmp_path_factory.mktemp("farm"), package_faces.person(2),
                           package_faces.astronaut, frames=FRAMES, size=(256, 192))


@pytest.fixture(scope="module")
def clean(shot, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    assert main(["render", shot.pattern, "--track", shot.track, "--source", shot.source,
                 "--out", str(out / "o.####.exr"), "--patch", str(out / "p.####.exr")]) == 0
    return out


def _render_cmd(shot, out):
    return [sys.executable, "-m", "faceplate.core.cli", "render", shot.pattern, "--track", shot.track, "--source",
            shot.source, "--out", str(out / "o.####.exr"), "--patch", str(out / "p.####.exr")]


def test_a_requeued_render_beside_a_live_one_leaves_both_exit_0_and_clean_frames(shot, clean, tmp_path):
    """Two renders of the same frames into the same folder, the second started 0.2-1 s after the
    first (a farm re-queue), three times: before issue 12 the second's start-up deleted the first's
    temp files and the first died with FileNotFoundError."""
    for i, delay in enumerate((0.2, 0.6, 1.0)):
        out = tmp_path / f"run{i}"
        first = subprocess.Popen(_render_cmd(shot, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        second = subprocess.Popen(_render_cmd(shot, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        results = [p.communicate(timeout=300) + (p.returncode,) for p in (first, second)]
        for _, err, rc in results:
            assert rc == 0 and "Traceback" not in err, err[-2000:]
        for f in FRAMES:
            for kind in ("o", "p"):
                name = f"{kind}.{f}.exr"
                assert (out / name).read_bytes() == (clean / name).read_bytes(), (delay, name)
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in clean.iterdir()), "temps left"


def test_resume_rerenders_a_truncated_frame(shot, clean, tmp_path):
    import shutil
    out = tmp_path / "resume"
    shutil.copytree(clean, out)
    cut = out / "o.1003.exr"
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])  # header intact, the last chunks missing (disk full, killed copy)
    from faceplate.core.render.resume import output_complete
    assert not output_complete(str(cut), {})
    assert main(["render", shot.pattern, "--track", shot.track, "--source", shot.source, "--resume",
                 "--out", str(out / "o.####.exr"), "--patch", str(out / "p.####.exr")]) == 0
    for f in FRAMES:
        for kind in ("o", "p"):
            name = f"{kind}.{f}.exr"
            assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def test_start_up_removes_only_temps_whose_writer_is_gone(tmp_path):
    from faceplate.core.filesystem import temp_owner
    from faceplate.core.render.resume import STALE_SECONDS, _remove_stale_temps

    host = temp_owner().split("@", 1)[1]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        names = {"dead": f".o.1001.p{dead.pid}@{host}.abc123.tmp.exr",
                 "live": f".o.1001.p{live.pid}@{host}.def456.tmp.exr",
                 "mine": f".o.1001.{temp_owner()}.ghi789.tmp.exr",
                 "other host, fresh": f".o.1001.p1@elsewhere.jkl012.tmp.exr",
                 "other host, old": f".o.1001.p2@elsewhere.mno345.tmp.exr",
                 "old format, old": ".o.1001.pqr678.tmp.exr"}
        for name in names.values():
            (tmp_path / name).write_bytes(b"x")
        old = time.time() - STALE_SECONDS - 60
        for key in ("other host, old", "old format, old"):
            os.utime(tmp_path / names[key], (old, old))
        _remove_stale_temps(str(tmp_path / "o.1001.exr"))
    finally:
        live.kill()
        live.wait()
    left = {k for k, n in names.items() if (tmp_path / n).exists()}
    assert left == {"live", "mine", "other host, fresh"}


def test_an_8bit_png_plate_keeps_every_pixel_outside_the_matte_exactly(package_faces, tmp_path):
    """8-bit plates are written as 32-bit float: the decoded values k/255 exactly (half would round them)."""
    from faceplate.core.io.exr import read_image

    shot = make_small_shot(tmp_path / "png", package_faces.person(2),
                           package_faces.astronaut, frames=(1001,), png=True)
    out = tmp_path / "out"
    assert main(["render", shot.pattern, "--track", shot.track, "--source", shot.source,
                 "--out", str(out / "o.####.exr")]) == 0
    plate = read_image(shot.pattern.replace("####", "1001"))
    result = read_image(str(out / "o.1001.exr"))
    matte = result.pixels[..., result.channels.index("faceplate.matte")]
    outside = matte == 0
    assert 0.2 < outside.mean() < 0.99  # a face was swapped, most of the frame was not
    rgb = list(plate.rgb)
    assert np.array_equal(result.pixels[..., rgb][outside].view(np.uint32),
                          plate.pixels[..., rgb][outside].view(np.uint32))


def test_nan_pixels_in_the_face_are_reported_and_kept_out_of_the_swap(shot, tmp_path, caplog):
    import shutil

    import OpenImageIO as oiio

    folder = tmp_path / "nan"
    folder.mkdir()
    src = shot.pattern.replace("####", "1001")
    dst = folder / "plate.1001.exr"
    shutil.copy(src, dst)
    buf = oiio.ImageBuf(str(dst))
    pix = buf.get_pixels(oiio.FLOAT)
    pix[70:74, 80:84, :3] = np.nan  # inside the face
    pix[150, 5, :3] = np.nan        # far from it
    spec = buf.spec()
    out_img = oiio.ImageOutput.create(str(dst))
    out_img.open(str(dst), spec)
    out_img.write_image(pix)
    out_img.close()
    import json

    from faceplate.core.io.exr import frame_fingerprint, read_image
    track = json.loads(Path(shot.track).read_text())
    track["plate"]["fingerprint"] = frame_fingerprint(read_image(str(dst)))  # the edited file's size
    (folder / "nan.track.json").write_text(json.dumps(track))
    out = tmp_path / "out"
    with caplog.at_level("WARNING", logger="faceplate.render"):
        assert main(["render", str(folder / "plate.####.exr"), "--track", str(folder / "nan.track.json"),
                     "--frames", "1001",
                     "--source", shot.source, "--out", str(out / "o.####.exr")]) == 0
    assert any("NaN/Inf pixels" in r.getMessage() for r in caplog.records)
    result = read_image(str(out / "o.1001.exr"))
    matte = result.pixels[..., result.channels.index("faceplate.matte")]
    rgb = result.pixels[..., :3]
    assert matte[70:74, 80:84].min() > 0 and np.isfinite(rgb[matte > 0]).all()
    assert np.isnan(rgb[150, 5]).all()  # outside the matte: the plate's own value, untouched
