"""`faceplate sample`: a readable scene-linear EXR plate with moving faces, and a usable source face."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.core.cli.__init__ import main
from faceplate.core.colour import ColourPipeline
from faceplate.core.io.sequence import PlateSequence
from faceplate.core.cli.sample import SAMPLE_VERSION, make_sample, package_image


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    make_sample(str(out), frames=4)
    return out


def test_images_come_from_the_installed_package() -> None:
    path = package_image("t1.jpg")
    assert path.is_file() and "insightface" in path.parts and "shared" not in path.parts


def test_sample_plate_is_a_scene_linear_half_exr_sequence_with_depth(sample_dir: Path) -> None:
    seq = PlateSequence(str(sample_dir / "plate.####.exr"))
    assert seq.frames == [1001, 1002, 1003, 1004]
    seq.check_complete()
    frames = list(seq)
    first = frames[0]
    assert first.channels == ("R", "G", "B", "A", "depth.Z")
    assert first.channel_formats == ("half", "half", "half", "half", "float")
    assert (first.data_window.width, first.data_window.height) == (1024, 576)
    rgb = first.rgb_pixels()
    assert np.isfinite(rgb).all() and rgb.max() > 1.0 and 0.05 < float(np.median(rgb)) < 0.6   # linear, with highlights
    assert first.metadata["faceplate/sample"] == SAMPLE_VERSION
    depth = first.pixels[..., 4]
    assert depth.min() > 0 and depth.std() > 0.1
    # the camera moves: consecutive frames differ, but only a little (a slow, smooth move)
    d1 = np.abs(frames[1].rgb_pixels() - rgb).mean()
    d3 = np.abs(frames[3].rgb_pixels() - rgb).mean()
    assert 0 < d1 < d3


def test_sample_faces_are_detectable_and_the_source_is_a_colour_face_like_the_plates(sample_dir: Path) -> None:
    """The embedded detector finds the group's six faces in the plate and one face in source.png, a
    colour photo whose face is about the plate faces' size (not a small grey crop)."""
    from faceplate.core.analyze.pyramid import detect_faces
    from faceplate.core.models.zoo import load_detector

    detector = load_detector()
    plate = PlateSequence(str(sample_dir / "plate.####.exr")).read(1001)
    faces = detect_faces(detector, ColourPipeline().to_uint8(plate.rgb_pixels()), min_face=40)
    assert len(faces) == 6
    source = cv2.cvtColor(cv2.imread(str(sample_dir / "source.png")), cv2.COLOR_BGR2RGB)
    (face,) = detect_faces(detector, source, min_face=40)
    assert min(source.shape[:2]) >= 512
    widths = sorted(f.width for f in faces)
    assert 0.8 * widths[0] < face.width < 1.5 * widths[-1], (face.width, widths)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    skin = source[y0:y1, x0:x1].astype(np.float32)
    chroma = np.abs(skin[..., 0] - skin[..., 2]).mean()   # red minus blue: zero on a grey image
    assert chroma > 20, chroma


def test_cli_is_idempotent_and_prints_the_next_command(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s"
    assert main(["sample", str(out), "--count", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"faceplate swap {out}/plate.####.exr --source {out}/source.png --engine v2 --frames 1001-1002 " \
           f"--out out/swap.####.exr --contact-sheet out/contact.png" in printed
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(first) == ["plate.1001.exr", "plate.1002.exr", "source.png"]
    assert main(["sample", str(out), "--count", "2"]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first        # same bytes, no temp files


def test_next_command_is_the_readmes_first_command(tmp_path: Path, capsys, monkeypatch) -> None:
    """`faceplate sample` (default folder) prints exactly the README's swap, so the two never drift apart."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("pip install -e \".[cpu]\""))
    sample_part, swap_part = line.split(" && ")[1:3]
    assert sample_part == "faceplate sample sample"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("faceplate.core.cli.sample.make_sample", lambda d, frames: {
        "dir": str(tmp_path / d), "pattern": str(tmp_path / d / "plate.####.exr"),
        "frames": list(range(1001, 1001 + frames)), "source": str(tmp_path / d / "source.png"),
        "colourspace": "lin_rec709"})
    assert main(["sample"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].strip() == swap_part
