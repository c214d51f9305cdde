"""Plate I/O on real EXR/PNG/TIFF/DPX files written with OpenImageIO, and real video via PyAV."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from faceplate.core.io.exr import colourspace_hint, read_image, write_exr
from faceplate.core.io.video import is_video
from faceplate.core.errors import PlateError
from faceplate.core.types import PlateFrame, Window
from faceplate.core.io.sequence import PlateSequence
from faceplate.core.io.frames import detect_pattern, parse_frames, sequence_path
from faceplate.core.io.exr import read_image, write_exr
from faceplate.core.io.video import read_video

CHANNELS = ("R", "G", "B", "A", "beauty.R", "beauty.G", "beauty.B", "crypto00.R", "crypto00.G",
            "crypto00.B", "crypto00.A", "depth.Z")
FORMATS = ("half",) * 7 + ("float",) * 5


def _write_with_oiio(path: Path, pixels: np.ndarray, channels=CHANNELS, formats=FORMATS,
                     data=(-16, -8), full=(0, 0, 48, 32), attrs=(), compression="piz") -> None:
    """A production-like EXR written directly with OIIO (not by the code under test)."""
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, oiio.TypeFloat)
    spec.channelnames = channels
    spec.channelformats = tuple(oiio.TypeDesc(f) for f in formats)
    spec.x, spec.y = data
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = full
    spec.attribute("compression", compression)
    for name, typ, value in attrs:
        spec.attribute(name, oiio.TypeDesc(typ), value)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32)), out.geterror()
    out.close()


ATTRS = (
    ("PixelAspectRatio", "float", 2.0),
    ("studio/show", "string", "Show X / plate dept"),
    ("framesPerSecond", "rational2i", (24000, 1001)),
    ("smpte:TimeCode", "timecode", (0x01020304, 0)),
    ("chromaticities", "float[8]", (0.713, 0.293, 0.165, 0.83, 0.128, 0.044, 0.32168, 0.33767)),
    ("worldToCamera", "matrix", tuple(float(i) for i in range(16))),
    ("cameraSerial", "int", 12345),
    ("lensFocal", "float", 35.5),
    ("DateTime", "string", "2024:01:02 03:04:05"),
)


def _native(path: Path) -> tuple[list, np.ndarray]:
    """Channel formats and float32 bits of every pixel exactly as stored in the file."""
    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()
    data = inp.read_image(0, 0, 0, spec.nchannels, "float")
    inp.close()
    # half -> float32 is injective, so equal float32 bits <=> equal stored half bits.
    return [str(t) for t in spec.channelformats], np.asarray(data, np.float32).view(np.uint32)


@pytest.fixture()
def production_exr(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    pixels = (rng.standard_normal((40, 64, len(CHANNELS))) * 4).astype(np.float32)
    pixels[..., :7] = pixels[..., :7].astype(np.float16).astype(np.float32)
    pixels[0, 0, 0] = np.inf       # NaN/Inf are kept as read; callers mask them
    pixels[0, 1, 1] = -np.inf
    pixels[0, 2, 4] = np.nan
    path = tmp_path / "plate.1001.exr"
    _write_with_oiio(path, pixels, attrs=ATTRS)
    return path, pixels


# ------------------------------------------------------------------ frame numbers and patterns

def test_parse_frames_ranges_steps_and_lists() -> None:
    assert parse_frames("1001-1005") == [1001, 1002, 1003, 1004, 1005]
    assert parse_frames("1001-1010x3") == [1001, 1004, 1007, 1010]
    assert parse_frames("1001,1003,1010-1012") == [1001, 1003, 1010, 1011, 1012]
    assert parse_frames("7") == [7]
    assert parse_frames("-3--1") == [-3, -2, -1]
    for bad in ("", "abc", "1010-1001", "1-5x0", "1-2-3"):
        with pytest.raises(PlateError, match="frame range"):
            parse_frames(bad)


def test_sequence_path_understands_every_pattern_style() -> None:
    assert sequence_path("/s/plate.####.exr", 1001) == "/s/plate.1001.exr"
    assert sequence_path("/s/plate.%04d.exr", 7) == "/s/plate.0007.exr"
    assert sequence_path("/s/plate.@@@@.exr", 42) == "/s/plate.0042.exr"
    assert sequence_path("/s/plate.%d.exr", 42) == "/s/plate.42.exr"
    assert sequence_path("/v2/shot.######.exr", 1001) == "/v2/shot.001001.exr"
    assert sequence_path("/s/still.exr", 5) == "/s/still.exr"


def test_detect_pattern_from_one_frame_finds_frames_on_disk(tmp_path: Path) -> None:
    for f in (1001, 1002, 1005):
        (tmp_path / f"plate.{f}.exr").write_bytes(b"")
    (tmp_path / "plate.01003.exr").write_bytes(b"")   # other padding: another sequence
    (tmp_path / "other.1003.exr").write_bytes(b"")
    pattern, frames = detect_pattern(str(tmp_path / "plate.1002.exr"))
    assert pattern == str(tmp_path / "plate.####.exr")
    assert frames == [1001, 1002, 1005]
    for style in ("plate.####.exr", "plate.%04d.exr", "plate.@@@@.exr"):
        assert detect_pattern(str(tmp_path / style))[1] == [1001, 1002, 1005]


# ------------------------------------------------------------------ EXR round trips

def test_read_keeps_layers_windows_aspect_and_metadata(production_exr) -> None:
    path, pixels = production_exr
    frame = read_image(str(path), layer="beauty")
    assert frame.channels == CHANNELS
    assert frame.channel_formats == FORMATS
    assert [frame.channels[i] for i in frame.rgb] == ["beauty.R", "beauty.G", "beauty.B"]
    assert frame.data_window == Window(-16, -8, 47, 31)      # overscan with negative origin
    assert frame.display_window == Window(0, 0, 47, 31)
    assert frame.pixels.shape == (40, 64, 12) and frame.pixels.dtype == np.float32
    assert frame.pixel_aspect == 2.0
    np.testing.assert_array_equal(frame.pixels, pixels)      # NaN/Inf kept as read
    assert frame.metadata["studio/show"] == "Show X / plate dept"
    assert frame.metadata["framesPerSecond"] == (24000, 1001)
    assert frame.metadata["compression"] == "piz"
    plain = read_image(str(path))
    assert [plain.channels[i] for i in plain.rgb] == ["R", "G", "B"]


def test_read_write_round_trip_is_bit_identical_with_everything_preserved(production_exr, tmp_path) -> None:
    path, _ = production_exr
    frame = read_image(str(path), layer="beauty")
    out = tmp_path / "out" / "copy.1001.exr"
    write_exr(str(out), frame, extra_metadata={"faceplate/version": "0.1.0"})

    formats_in, bits_in = _native(path)
    formats_out, bits_out = _native(out)
    assert formats_out == formats_in == list(FORMATS)
    assert np.array_equal(bits_in, bits_out)                 # byte-for-byte pixel data, NaN/Inf too

    back = read_image(str(out), layer="beauty")
    assert back.channels == frame.channels
    assert back.data_window == frame.data_window and back.display_window == frame.display_window
    assert back.pixel_aspect == 2.0
    for name, typ, value in ATTRS:
        if name == "PixelAspectRatio":
            continue
        got = back.metadata[name]
        if isinstance(value, tuple):
            np.testing.assert_allclose(np.asarray(got, float), np.asarray(value, float), rtol=1e-6)
        else:
            assert got == pytest.approx(value) if isinstance(value, float) else got == value, name
        assert str(back.metadata_types[name]) == str(frame.metadata_types[name]), name
    assert back.metadata["compression"] == "piz"
    assert back.metadata["faceplate/version"] == "0.1.0"


def test_write_is_deterministic_and_atomic(production_exr, tmp_path) -> None:
    path, _ = production_exr
    frame = read_image(str(path))
    frame.metadata.pop("DateTime")
    a, b = tmp_path / "a.exr", tmp_path / "b.exr"
    write_exr(str(a), frame)
    time.sleep(1.05)       # a wall-clock stamp would differ now
    write_exr(str(b), frame)
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []   # no temp files left


def test_lossy_compression_is_rewritten_losslessly(tmp_path) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.random((32, 48, 3)).astype(np.float16).astype(np.float32)
    src = tmp_path / "dwa.exr"
    _write_with_oiio(src, pixels, ("R", "G", "B"), ("half",) * 3, (0, 0), (0, 0, 48, 32), compression="dwaa")
    frame = read_image(str(src))
    out = tmp_path / "out.exr"
    write_exr(str(out), frame)
    back = read_image(str(out))
    assert back.metadata["compression"] == "zip"
    assert back.metadata["faceplate/plate_compression"].startswith("dwaa")
    assert np.array_equal(back.pixels.view(np.uint32), frame.pixels.view(np.uint32))


# ------------------------------------------------------------------ errors

def test_layer_not_found_lists_the_layers(production_exr) -> None:
    path, _ = production_exr
    with pytest.raises(PlateError) as err:
        read_image(str(path), layer="diffuse")
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "beauty" in message and "crypto00" in message and "depth" in message


def _sequence(tmp_path: Path, frames, size=(24, 16)) -> str:
    for i, f in enumerate(frames):
        pixels = np.full((size[1], size[0], 3), i / 10, np.float32)
        _write_with_oiio(tmp_path / f"plate.{f:04d}.exr", pixels, ("R", "G", "B"), ("half",) * 3,
                         (0, 0), (0, 0, size[0], size[1]), compression="zip")
    return str(tmp_path / "plate.####.exr")


def test_missing_frame_names_the_first_missing_path(tmp_path) -> None:
    pattern = _sequence(tmp_path, [1001, 1002, 1004])
    seq = PlateSequence(pattern, parse_frames("1001-1005"))
    with pytest.raises(PlateError) as err:
        seq.check_complete()
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "plate.1003.exr") in message and "1 more" in message
    got = []
    with pytest.raises(PlateError, match="plate.1003.exr"):
        for frame in seq:
            got.append(frame.frame)
    assert got == [1001, 1002]


def test_truncated_exr_gives_one_line_error(tmp_path) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "plate.1001.exr"
    _write_with_oiio(path, rng.random((256, 256, 3)).astype(np.float32), ("R", "G", "B"), ("float",) * 3,
                     (0, 0), (0, 0, 256, 256), compression="none")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PlateError) as err:
        PlateSequence(str(path), [1001]).read(1001)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "truncated" in message


def test_not_an_image_gives_one_line_error(tmp_path) -> None:
    path = tmp_path / "notes.0001.exr"
    path.write_text("this is not an EXR\n")
    with pytest.raises(PlateError) as err:
        read_image(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)


# ------------------------------------------------------------------ streaming

def test_iteration_reads_ahead_a_bounded_number_of_frames(tmp_path, monkeypatch) -> None:
    pattern = _sequence(tmp_path, range(1001, 1021))
    seq = PlateSequence(pattern, read_ahead=2)
    reads: list[int] = []
    original = PlateSequence.read

    def counting_read(self, frame):
        reads.append(frame)
        return original(self, frame)

    monkeypatch.setattr(PlateSequence, "read", counting_read)
    it = iter(seq)
    first = next(it)
    deadline = time.monotonic() + 10
    while len(reads) < 2 and time.monotonic() < deadline:   # it does read ahead...
        time.sleep(0.01)
    time.sleep(0.3)                      # ...and gets every chance to run further
    assert first.frame == 1001
    # one handed out + 2 queued + 1 blocked waiting for room: never the whole shot
    assert 2 <= len(reads) <= 4
    values = [first.pixels[0, 0, 0]] + [f.pixels[0, 0, 0] for f in it]
    assert len(values) == 20 and reads == list(range(1001, 1021))
    np.testing.assert_allclose(values, np.arange(20) / 10, atol=1e-3)    # in order


def test_stopping_early_ends_the_reader_thread(tmp_path) -> None:
    seq = PlateSequence(_sequence(tmp_path, range(1001, 1011)), read_ahead=1)
    before = {t for t in threading.enumerate() if t.name == "faceplate-plate-reader"}
    for frame in seq:
        break
    time.sleep(0.3)
    after = {t for t in threading.enumerate() if t.name == "faceplate-plate-reader" and t.is_alive()}
    assert after <= before


def test_info_describes_the_first_frame(production_exr) -> None:
    path, _ = production_exr
    info = PlateSequence(str(path), layer="beauty").info()
    assert info["frames"] == [1001]
    assert (info["width"], info["height"], info["pixel_aspect"]) == (48, 32, 2.0)
    assert info["data_window"] == [-16, -8, 47, 31] and info["display_window"] == [0, 0, 47, 31]
    assert len(info["fingerprint"]) == 64


# ------------------------------------------------------------------ other formats and video

@pytest.mark.parametrize("ext,fmt,scale", [("png", "uint8", 255), ("jpg", "uint8", 255),
                                           ("tif", "uint16", 65535), ("dpx", "uint16", 1023)])
def test_8_and_16_bit_sequences_read_as_float(tmp_path, ext, fmt, scale) -> None:
    ramp = np.linspace(0, 1, 32, dtype=np.float32)
    pixels = np.dstack([np.tile(ramp, (16, 1))] * 3)
    for f in (1, 2):
        buf = oiio.ImageBuf(oiio.ImageSpec(32, 16, 3, fmt))
        buf.set_pixels(oiio.ROI(), pixels)
        if ext == "dpx":
            buf.specmod().attribute("oiio:BitsPerSample", 10)
        assert buf.write(str(tmp_path / f"scan.{f:04d}.{ext}")), buf.geterror()
    seq = PlateSequence(str(tmp_path / f"scan.0001.{ext}"))
    assert seq.frames == [1, 2]
    frames = list(seq)
    got = frames[1].pixels[..., list(frames[1].rgb)]
    assert got.dtype == np.float32 and 0.0 <= got.min() and got.max() <= 1.0
    tol = 0.03 if ext == "jpg" else 1.0 / scale
    np.testing.assert_allclose(got, pixels, atol=tol)
    # an 8/16-bit frame written back as EXR keeps its values as float
    write_exr(str(tmp_path / "conv.exr"), frames[0])
    np.testing.assert_allclose(read_image(str(tmp_path / "conv.exr")).pixels, frames[0].pixels, atol=1e-3)


def _make_clip(path: Path) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            rgb = np.zeros((48, 64, 3), np.uint8)
            rgb[..., 0] = 40 * i
            rgb[..., 1] = 128
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_read_video_made_with_pyav(tmp_path) -> None:
    path = tmp_path / "clip_01.mp4"
    _make_clip(path)
    frames = list(read_video(str(path)))
    assert [i for i, _ in frames] == list(range(6))
    assert all(img.shape == (48, 64, 3) and img.dtype == np.uint8 for _, img in frames)
    assert abs(int(frames[5][1][..., 0].mean()) - 200) < 12 and abs(int(frames[0][1][..., 1].mean()) - 128) < 12
    assert [i for i, _ in read_video(str(path), start=2, stop=4)] == [2, 3]


@pytest.mark.assets
def test_read_video_real_clip(asset) -> None:
    path = asset("media/video/clip_01_tears_of_steel.mp4")
    frames = list(read_video(str(path), stop=5))
    assert len(frames) == 5
    assert frames[0][1].shape == (360, 640, 3) and frames[0][1].std() > 10   # real picture, not black


def test_video_errors_are_one_line(tmp_path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(PlateError) as err:
        list(read_video(str(bad)))
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_plate_frame_copy_is_independent(production_exr) -> None:
    frame = read_image(str(production_exr[0]))
    other = frame.copy()
    other.pixels[0, 0, 0] = 5.0
    other.metadata["studio/show"] = "x"
    assert frame.pixels[0, 0, 0] != 5.0 and frame.metadata["studio/show"] != "x"
    assert isinstance(other, PlateFrame) and is_video("a.MOV") and not is_video("a.exr")


def test_video_file_as_a_plate_sequence(tmp_path) -> None:
    path = tmp_path / "clip_01.mp4"      # digits in the name must not turn it into a pattern
    _make_clip(path)
    seq = PlateSequence(str(path))
    assert seq.is_video and seq.frames == [1, 2, 3, 4, 5, 6]    # frames 1..N like a Nuke Read
    frames = list(seq)
    assert [f.frame for f in frames] == [1, 2, 3, 4, 5, 6]
    assert frames[5].pixels.dtype == np.float32 and abs(frames[5].pixels[..., 0].mean() - 200 / 255) < 0.05
    back = seq.read(2)                                          # random access goes back
    np.testing.assert_array_equal(back.pixels, frames[1].pixels)
    assert seq.info()["colourspace_hint"] == "srgb_rec709_scene" and seq.info()["width"] == 64
    with pytest.raises(PlateError, match="outside"):
        PlateSequence(str(path), [5, 6, 7]).check_complete()
    seq.close()


def test_colourspace_hint_reads_what_the_file_declares(tmp_path, production_exr) -> None:
    assert colourspace_hint(read_image(str(production_exr[0]))) is None     # float: caller's default
    buf = oiio.ImageBuf(oiio.ImageSpec(8, 8, 3, "uint8"))
    buf.write(str(tmp_path / "photo.png"))
    assert colourspace_hint(read_image(str(tmp_path / "photo.png"))) == "srgb_rec709_scene"


def test_multi_part_exr_parts_become_channels(tmp_path) -> None:
    """A multi-part EXR (beauty part + depth part with a smaller window) reads as one frame."""
    rgba = oiio.ImageSpec(16, 8, 4, "half")
    rgba.channelnames = ("R", "G", "B", "A")
    rgba.attribute("name", "rgba")
    depth = oiio.ImageSpec(8, 4, 1, "float")
    depth.channelnames = ("Z",)
    depth.x, depth.y, depth.full_width, depth.full_height = 4, 2, 16, 8
    depth.attribute("name", "depth")
    path = tmp_path / "multipart.exr"
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), (rgba, depth))
    beauty = np.random.default_rng(5).random((8, 16, 4)).astype(np.float16).astype(np.float32)
    out.write_image(beauty)
    out.open(str(path), depth, "AppendSubimage")
    out.write_image(np.full((4, 8, 1), 7.0, np.float32))
    out.close()
    frame = read_image(str(path))
    assert frame.channels == ("R", "G", "B", "A", "depth.Z")
    assert frame.channel_formats == ("half",) * 4 + ("float",)
    np.testing.assert_array_equal(frame.pixels[..., :4], beauty)
    z = frame.pixels[..., 4]
    assert (z[2:6, 4:12] == 7.0).all() and z.sum() == 7.0 * 32      # placed at the part's window


def test_metadata_edited_to_another_type_is_still_written(production_exr, tmp_path) -> None:
    frame = read_image(str(production_exr[0]))
    frame.metadata["framesPerSecond"] = 25.0          # was a rational
    frame.metadata["cameraSerial"] = "A-12"           # was an int
    write_exr(str(tmp_path / "edited.exr"), frame)
    back = read_image(str(tmp_path / "edited.exr"))
    assert back.metadata["framesPerSecond"] == 25.0 and back.metadata["cameraSerial"] == "A-12"


def test_tiled_exr_stays_tiled(tmp_path) -> None:
    spec = oiio.ImageSpec(100, 70, 3, "half")
    spec.tile_width, spec.tile_height = 32, 16
    src = tmp_path / "tiled.exr"
    out = oiio.ImageOutput.create(str(src))
    assert out.open(str(src), spec)
    out.write_image(np.random.default_rng(2).random((70, 100, 3)).astype(np.float32))
    out.close()
    frame = read_image(str(src))
    assert frame.tile_size == (32, 16)
    write_exr(str(tmp_path / "copy.exr"), frame)
    copy = oiio.ImageInput.open(str(tmp_path / "copy.exr"))
    assert (copy.spec().tile_width, copy.spec().tile_height) == (32, 16)
    copy.close()
    assert np.array_equal(_native(src)[1], _native(tmp_path / "copy.exr")[1])


def test_rgb_only_read_holds_exactly_the_layer_rgb(production_exr, tmp_path) -> None:
    """Analysis reads only the face RGB (contiguous layer range, or picked channels): bit-identical
    to the full read's RGB, NaN/Inf kept, same windows/aspect/metadata; iter_rgb streams that."""
    path, pixels = production_exr
    full = read_image(str(path), layer="beauty")
    for layer, names in (("beauty", ("beauty.R", "beauty.G", "beauty.B")), (None, ("R", "G", "B"))):
        ref = read_image(str(path), layer=layer)
        part = read_image(str(path), layer=layer, rgb_only=True)
        assert part.channels == names and part.rgb == (0, 1, 2) and part.pixels.shape == (40, 64, 3)
        assert part.pixels.dtype == np.float32
        np.testing.assert_array_equal(part.pixels.view(np.uint32), ref.rgb_pixels().view(np.uint32))
        assert part.data_window == full.data_window and part.display_window == full.display_window
        assert part.pixel_aspect == full.pixel_aspect and part.metadata.keys() == full.metadata.keys()
    # non-contiguous RGB (B before G in the file): picked out in R, G, B order
    shuffled = pixels[..., [0, 2, 1, 3]].copy()
    odd = tmp_path / "odd.1001.exr"
    _write_with_oiio(odd, shuffled, channels=("R", "B", "G", "A"), formats=("half",) * 4)
    frame = read_image(str(odd), rgb_only=True)
    assert frame.channels == ("R", "G", "B")
    np.testing.assert_array_equal(frame.pixels, pixels[..., :3])
    got = [f.pixels for f in PlateSequence(str(odd)).iter_rgb()]
    assert len(got) == 1 and np.array_equal(got[0], pixels[..., :3])


def test_all_half_frame_is_written_as_half_not_float(tmp_path) -> None:
    # OIIO drops uniform channelformats; face patches (RGBA half) and all-half plates must stay half.
    frame = PlateFrame(pixels=np.full((4, 6, 4), 0.25, np.float32), channels=("R", "G", "B", "A"),
                       channel_formats=("half",) * 4, rgb=(0, 1, 2), data_window=Window(2, 1, 7, 4),
                       display_window=Window(0, 0, 9, 9), pixel_aspect=1.0, metadata={}, path=None, frame=None)
    path = tmp_path / "patch.1001.exr"
    write_exr(str(path), frame)
    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()
    inp.close()
    stored = [str(f) for f in spec.channelformats] or [str(spec.format)] * spec.nchannels
    assert stored == ["half"] * 4
    assert read_image(str(path)).channel_formats == ("half",) * 4
