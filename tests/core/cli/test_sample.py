"""`faceplate sample`: a readable scene-linear EXR plate with moving faces, and a usable source face."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.core.cli.__init__ import main
from faceplate.core.colour import ColourPipeline
from faceplate.core.io.sequence import PlateSequence
from faceplate.core.cli.sample import make_sample, package_image


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
    assert first.metadata["faceplate/sample"] == "1"
    depth = first.pixels[..., 4]
    assert depth.min() > 0 and depth.std() > 0.1
    # the camera moves: consecutive frames differ, but only a little (a slow, smooth move)
    d1 = np.abs(frames[1].rgb_pixels() - rgb).mean()
    d3 = np.abs(frames[3].rgb_pixels() - rgb).mean()
    assert 0 < d1 < d3


@pytest.mark.assets
def test_sample_faces_are_detectable(sample_dir: Path, asset) -> None:
    """A real detector (YuNet via OpenCV) finds the group's faces in the plate and one face in source.png."""
    detector = cv2.FaceDetectorYN.create(str(asset("models/yunet/yunet_n_dynamic.onnx")), "", (320, 320), 0.6)
    plate = PlateSequence(str(sample_dir / "plate.####.exr")).read(1001)
    bgr = cv2.cvtColor(ColourPipeline().to_uint8(plate.rgb_pixels()), cv2.COLOR_RGB2BGR)
    detector.setInputSize((bgr.shape[1], bgr.shape[0]))
    faces = detector.detect(bgr)[1]
    assert faces is not None and len(faces) >= 5
    source = cv2.imread(str(sample_dir / "source.png"))
    detector.setInputSize((source.shape[1], source.shape[0]))
    assert len(detector.detect(source)[1]) == 1


def test_cli_is_idempotent_and_prints_the_next_command(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s"
    assert main(["sample", str(out), "--count", "2"]) == 0
    printed = capsys.readouterr().out
    assert "faceplate swap" in printed and str(out / "plate.####.exr") in printed and "source.png" in printed
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(first) == ["plate.1001.exr", "plate.1002.exr", "source.png"]
    assert main(["sample", str(out), "--count", "2"]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first        # same bytes, no temp files
