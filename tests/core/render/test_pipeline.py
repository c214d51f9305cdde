"""`faceplate render` end to end on a real face in EXR plates with extra layers, overscan and super-whites."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.core.render_plates import FRAMES, make_shot  # noqa: E402

from faceplate.core.cli.__init__ import main  # noqa: E402


@pytest.fixture(scope="module")
def shot(tmp_path_factory, package_faces):
    """A face of the insightface group photo as the plate, the scikit-image astronaut as the source."""
    folder = tmp_path_factory.mktemp("shot")
    return make_shot(folder, package_faces.person(2), package_faces.astronaut)


@pytest.fixture(scope="module")
def full_render(shot, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    rc = main(["render", shot.pattern, "--track", shot.track, "--source", shot.source, "--frames", "1001-1009",
               "--out", str(out / "out.####.exr"), "--patch", str(out / "patch.####.exr"),
               "--contact-sheet", str(out / "sheet.png")])
    assert rc == 0
    return out


def _read(path):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(str(path))
    spec = inp.spec()
    # Native per-channel data as raw bytes: compare stored half/float bits, not converted values.
    pix = inp.read_image(0, 0, 0, spec.nchannels, "float")
    attrs = {a.name: a.value for a in spec.extra_attribs}
    inp.close()
    return spec, np.asarray(pix, np.float32).reshape(spec.height, spec.width, spec.nchannels), attrs


def _bits(a: np.ndarray, fmt: str) -> np.ndarray:
    """The stored bit pattern of values read as float32 from a channel stored as ``fmt``."""
    return a.astype(np.float16).view(np.uint16) if fmt == "half" else a.astype(np.float32).view(np.uint32)


def _files(folder: Path, prefix: str) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.glob(f"{prefix}.*.exr"))}


def test_outside_matte_bit_exact_and_layers_header_kept(shot, full_render):
    from faceplate.core.io.frames import sequence_path
    changed_total = 0
    for f in FRAMES:
        pspec, plate, pattrs = _read(sequence_path(shot.pattern, f))
        ospec, out, oattrs = _read(full_render / f"out.{f:04d}.exr")
        names = list(ospec.channelnames)
        assert names[:-1] == list(pspec.channelnames) and names[-1] == "faceplate.matte"
        assert [str(t) for t in ospec.channelformats][:-1] == [str(t) for t in pspec.channelformats]
        assert (ospec.x, ospec.y, ospec.width, ospec.height) == (pspec.x, pspec.y, pspec.width, pspec.height)
        assert (ospec.full_x, ospec.full_y, ospec.full_width, ospec.full_height) == \
               (pspec.full_x, pspec.full_y, pspec.full_width, pspec.full_height)
        for key, value in pattrs.items():  # every plate header attribute survives unchanged
            assert oattrs.get(key) == value, key
        matte = out[..., -1]
        outside = matte == 0
        fmts = [str(t) for t in pspec.channelformats]
        for c, fmt in enumerate(fmts):
            a, b = _bits(plate[..., c], fmt), _bits(out[..., c], fmt)
            if c < 3:
                assert np.array_equal(a[outside], b[outside]), f"frame {f} channel {names[c]} changed outside matte"
            else:  # alpha, depth and cryptomatte layers: identical everywhere
                assert np.array_equal(a, b), f"frame {f} layer {names[c]} changed"
        # Super-whites, negatives, NaN and the hot line (all away from the face) survive.
        assert np.all(out[5:40, 5:60, :3] == 6.5) and np.all(out[-30:-5, 5:60, :3] == np.float16(-0.02))
        assert np.isnan(out[-20, -20, 0]) and np.all(out[out.shape[0] // 2, -30:-10, :3] == 40.0)
        changed = (_bits(plate[..., :3], "half") != _bits(out[..., :3], "half")).any(axis=2)
        assert changed.sum() > 5000  # the face really was replaced
        assert not (changed & outside).any()
        changed_total += int(changed.sum())
    print(f"\nchanged pixels per frame: {changed_total / len(FRAMES):.0f}; 0 differing bytes outside the matte")


def test_provenance_and_patch(shot, full_render):
    from faceplate.core import __version__
    from faceplate.core.io.track_file import track_file_sha256

    f = FRAMES[4]
    _, out, oattrs = _read(full_render / f"out.{f:04d}.exr")
    pspec, patch, pattrs = _read(full_render / f"patch.{f:04d}.exr")
    for attrs in (oattrs, pattrs):
        assert attrs["faceplate/version"] == __version__
        assert attrs["faceplate/model"] == "classical"
        assert attrs["faceplate/model_sha256"]
        assert attrs["faceplate/track_sha256"] == track_file_sha256(shot.track)
        assert attrs["faceplate/source_sha256"]
    assert list(pspec.channelnames) == ["R", "G", "B", "A"]
    assert (pspec.full_width, pspec.full_height) == (480, 360)
    # Data window = bbox of the matte; Merge(over) of the patch on the plate == composite.
    matte = out[..., -1]
    ys, xs = np.nonzero(matte > 0)
    ox, oy = -16, -12
    assert (pspec.x, pspec.y) == (xs.min() + ox, ys.min() + oy)
    assert (pspec.width, pspec.height) == (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    from faceplate.core.io.frames import sequence_path
    _, plate, _ = _read(sequence_path(shot.pattern, f))
    r0, c0 = pspec.y - oy, pspec.x - ox
    region = plate[r0:r0 + pspec.height, c0:c0 + pspec.width, :3]
    over = patch[..., :3] + (1 - patch[..., 3:4]) * region
    comp = out[r0:r0 + pspec.height, c0:c0 + pspec.width, :3]
    assert np.allclose(patch[..., 3], matte[r0:r0 + pspec.height, c0:c0 + pspec.width])
    assert np.abs(over - comp).max() < 0.01 * max(1.0, np.abs(comp).max())
    assert (full_render / "sheet.png").stat().st_size > 10000


def test_any_chunking_is_byte_identical(shot, full_render, tmp_path):
    # Chunks of 7 over the whole range (7 + 2 frames), and single frames at both ends and inside.
    plans = {7: [FRAMES[:7], FRAMES[7:]], 1: [[1001], [1002], [1005], [1009]]}
    for chunk, parts in plans.items():
        out = tmp_path / f"chunk{chunk}"
        for part in parts:
            rc = main(["render", shot.pattern, "--track", shot.track, "--source", shot.source,
                       "--frames", f"{part[0]}-{part[-1]}", "--out", str(out / "out.####.exr"),
                       "--patch", str(out / "patch.####.exr")])
            assert rc == 0
        for prefix in ("out", "patch"):
            got = _files(out, prefix)
            assert len(got) == sum(len(p) for p in parts)
            want = {k: v for k, v in _files(full_render, prefix).items() if k in got}
            assert got == want, f"chunks of {chunk}: {prefix} differs"


def test_kill_and_resume_is_byte_identical(shot, full_render, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "faceplate.core.cli", "render", shot.pattern, "--track", shot.track,
           "--source", shot.source, "--frames", "1001-1009", "--out", str(out / "out.####.exr"),
           "--patch", str(out / "patch.####.exr")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("out.*.exr"))) < 3 and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(out.glob("out.*.exr")))
    assert 0 < done < len(FRAMES), f"kill landed after {done} frames: not a mid-render kill"
    # A killed writer may leave a hidden temp file; the final names are only ever complete files.
    rc = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    assert "already complete" in rc.stderr
    for prefix in ("out", "patch"):
        assert _files(out, prefix) == _files(full_render, prefix)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_resume_rerenders_frames_made_with_other_settings(shot, full_render, tmp_path):
    import shutil
    out = tmp_path / "resume"
    out.mkdir()
    for name in ("out.1001.exr", "out.1002.exr"):
        shutil.copy(full_render / name, out / name)
    (out / "out.1003.exr").write_bytes(b"not an exr")  # a corrupt leftover is re-rendered
    args = ["render", shot.pattern, "--track", shot.track, "--source", shot.source, "--frames", "1001-1003",
            "--out", str(out / "out.####.exr"), "--resume"]
    assert main(args + ["--no-regrain"]) == 0  # other settings: nothing counts as complete
    assert (out / "out.1001.exr").read_bytes() != (full_render / "out.1001.exr").read_bytes()
    assert main(args) == 0
    for name in ("out.1001.exr", "out.1002.exr", "out.1003.exr"):
        assert (out / name).read_bytes() == (full_render / name).read_bytes()


def _run_cli(args):
    return subprocess.run([sys.executable, "-m", "faceplate.core.cli", *args], capture_output=True, text=True)


def test_bad_inputs_fail_with_one_line_and_no_files(shot, tmp_path):
    import json
    out = tmp_path / "bad"
    base = ["render", shot.pattern, "--track", shot.track, "--frames", "1001-1002", "--out", str(out / "o.####.exr")]
    # A source photo without a face (a crop of plain background).
    import cv2
    blank = tmp_path / "noface.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
    junk_model = tmp_path / "junk.onnx"
    _tiny_non_swapper(junk_model)
    other = json.loads(Path(shot.track).read_text())
    other["plate"]["width"] = 1920
    other_track = tmp_path / "other.track.json"
    other_track.write_text(json.dumps(other))
    ranged = json.loads(Path(shot.track).read_text())
    ranged["plate"]["fingerprint"] = "0" * 64
    fp_track = tmp_path / "fp.track.json"
    fp_track.write_text(json.dumps(ranged))
    short = json.loads(Path(shot.track).read_text())
    short["plate"]["frames"][1] = 1005
    range_track = tmp_path / "range.track.json"
    range_track.write_text(json.dumps(short))
    sha = json.loads(Path(shot.track).read_text())
    sha["models"]["landmarker"]["sha256"] = "f" * 64
    sha_track = tmp_path / "sha.track.json"
    sha_track.write_text(json.dumps(sha))
    cases = {
        "no face": base + ["--source", str(blank)],
        "no contract": base + ["--source", shot.source, "--model", str(junk_model)],
        "other plate": ["render", shot.pattern, "--track", str(other_track), "--source", shot.source,
                        "--frames", "1001-1002", "--out", str(out / "o.####.exr")],
        "fingerprint": ["render", shot.pattern, "--track", str(fp_track), "--source", shot.source,
                        "--frames", "1001-1002", "--out", str(out / "o.####.exr")],
        "range": ["render", shot.pattern, "--track", str(range_track), "--source", shot.source,
                  "--frames", "1001-1007", "--out", str(out / "o.####.exr")],
        "sha256": ["render", shot.pattern, "--track", str(sha_track), "--source", shot.source,
                   "--frames", "1001-1002", "--out", str(out / "o.####.exr")],
    }
    messages = {}
    for name, args in cases.items():
        r = _run_cli(args)
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("faceplate: error:")]
        assert r.returncode != 0, name
        assert len(lines) == 1, (name, r.stderr)
        messages[name] = lines[0]
        assert not out.exists() or not any(out.iterdir()), f"{name}: files written"
    assert "no face" in messages["no face"]
    assert "junk.onnx" in messages["no contract"] and "contract" in messages["no contract"]
    assert "another plate" in messages["other plate"] and "another plate" in messages["fingerprint"]
    assert "frame 1006 outside the analysed range 1001-1005" in messages["range"]
    assert "sha256" in messages["sha256"]


def test_missing_plate_frame(shot, tmp_path):
    import shutil
    plate = tmp_path / "holes"
    plate.mkdir()
    for f in (1001, 1003):
        shutil.copy(shot.pattern.replace("####", str(f)), plate / f"plate.{f}.exr")
    r = _run_cli(["render", str(plate / "plate.####.exr"), "--track", shot.track, "--source", shot.source,
                  "--frames", "1001-1003", "--out", str(tmp_path / "o" / "o.####.exr")])
    assert r.returncode != 0 and "1002" in r.stderr and not (tmp_path / "o").exists()


def test_source_with_several_faces_uses_largest(shot, tmp_path, package_faces, caplog):
    from faceplate.core.models.zoo import load_detector, load_landmarker
    from faceplate.core.render.source import load_source_identity
    src = load_source_identity([str(package_faces.group)],
                               detector=load_detector(), landmarker=load_landmarker())
    assert src.landmarks.shape == (68, 2)
    assert any("faces found; using the largest" in r.message for r in caplog.records)


def _tiny_non_swapper(path):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 64])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_anamorphic_plate_is_desqueezed_for_the_swap(tmp_path, package_faces):
    """Pixel aspect 2: the swap happens in square pixels and is squeezed back (matte shape follows
    the stored face, not a double-width one), pixel aspect and bit-exactness kept."""
    shot2 = make_shot(tmp_path / "ana", package_faces.person(2), package_faces.astronaut, frames=[1001, 1002],
                      aspect=2.0)
    out = tmp_path / "ana_out"
    assert main(["render", shot2.pattern, "--track", shot2.track, "--source", shot2.source,
                 "--frames", "1001-1002", "--out", str(out / "o.####.exr")]) == 0
    from faceplate.core.io.exr import read_image
    from faceplate.core.io.track_file import load_track_file
    tf = load_track_file(shot2.track)
    plate = read_image(shot2.pattern.replace("####", "1001"))
    o = read_image(str(out / "o.1001.exr"))
    assert o.pixel_aspect == 2.0
    matte = o.pixels[..., -1]
    outside = matte == 0
    assert np.array_equal(_bits(plate.pixels[..., :3], "half")[outside], _bits(o.pixels[..., :3], "half")[outside])
    lm = tf.tracks[0].entries[1001].landmarks          # stored (squeezed) pixels
    ys, xs = np.nonzero(matte > 0.5)
    matte_ratio = (xs.max() - xs.min()) / (ys.max() - ys.min())
    face_ratio = np.ptp(lm[:, 0]) / np.ptp(lm[:, 1])
    assert 0.75 < matte_ratio / face_ratio < 1.35, (matte_ratio, face_ratio)
    dw = plate.data_window
    nose = np.round(lm[30] - [dw.xmin, dw.ymin]).astype(int)
    assert matte[nose[1], nose[0]] == 1.0


def test_swap_command_analyzes_then_renders(shot, tmp_path):
    """`faceplate swap` = analyze (embedded defaults) + render, the README's one-command job."""
    out = tmp_path / "swap"
    r = _run_cli(["swap", shot.pattern, "--source", shot.source, "--frames", "1001-1003",
                  "--out", str(out / "swap.####.exr")])
    assert r.returncode == 0, r.stderr
    from faceplate.core.io.exr import read_image
    from faceplate.core.io.track_file import load_track_file
    tf = load_track_file(out / "shot.track.json")
    assert len(tf.tracks) == 1 and sorted(tf.tracks[0].entries) == [1001, 1002, 1003]
    for f in (1001, 1002, 1003):
        o = read_image(str(out / f"swap.{f}.exr"))
        assert (o.pixels[..., -1] > 0).sum() > 5000
        assert o.metadata["faceplate/model"] == "classical"
    # The analysed track carries real identities: --targets with a reference photo picks the track.
    ref = _write_ref(shot)
    r = _run_cli(["render", shot.pattern, "--track", str(out / "shot.track.json"), "--source", shot.source,
                  "--frames", "1002-1002", "--targets", ref, "--out", str(out / "t.####.exr")])
    assert r.returncode == 0, r.stderr
    assert "--targets" in r.stderr and "track 1" in r.stderr


def _write_ref(shot) -> str:
    """A reference photo of the plate's actor (a crop of frame 1001 as 8-bit sRGB)."""
    import cv2
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.io.exr import read_image
    fr = read_image(shot.pattern.replace("####", "1001"))
    u8 = ColourPipeline().to_uint8(fr.rgb_pixels())
    path = str(Path(shot.pattern).parent / "ref.png")
    cv2.imwrite(path, cv2.cvtColor(u8, cv2.COLOR_RGB2BGR))
    return path


def test_parser_mask_through_the_cli(shot, tmp_path):
    from tests.fakes.parser import skin_where_red
    from faceplate.core.io.exr import read_image
    parser = tmp_path / "bisenet.onnx"
    skin_where_red(parser)
    out = tmp_path / "parsed"
    assert main(["render", shot.pattern, "--track", shot.track, "--source", shot.source, "--frames", "1001-1001",
                 "--mask", "parser", "--parser", str(parser), "--regions", "skin", "--out", str(out / "o.####.exr")]) == 0
    m = read_image(str(out / "o.1001.exr")).pixels[..., -1]
    assert (m > 0).sum() > 1000
    assert main(["render", shot.pattern, "--track", shot.track, "--source", shot.source, "--frames", "1001-1001",
                 "--mask", "parser", "--out", str(tmp_path / "np" / "o.####.exr")]) == 2


def test_neural_render_from_saved_embedding_and_target_ids(shot, tmp_path):
    """CLI with an inswapper-contract ONNX and --source-embedding; --targets picks tracks by id."""
    from tests.core.render.test_engines import _swapper_onnx
    from faceplate.core.filesystem import sha256_file
    from faceplate.core.io.exr import read_image

    rng = np.random.default_rng(0)
    model = tmp_path / "inswapper_128.onnx"
    _swapper_onnx(model, 128, "target", "source", emap=rng.normal(size=(512, 512)).astype(np.float32))
    emb = tmp_path / "actor.npy"
    np.save(emb, rng.normal(size=512).astype(np.float32))
    out = tmp_path / "neural"
    args = ["render", shot.pattern, "--track", shot.track, "--source-embedding", str(emb), "--model", str(model),
            "--frames", "1001-1002", "--out", str(out / "o.####.exr"), "--targets", "1"]
    assert main(args) == 0
    single = tmp_path / "neural1"
    assert main(args[:9] + ["1002-1002", "--out", str(single / "o.####.exr"), "--targets", "1"]) == 0
    assert (single / "o.1002.exr").read_bytes() == (out / "o.1002.exr").read_bytes()  # chunking-proof
    o = read_image(str(out / "o.1001.exr"))
    assert o.metadata["faceplate/model"] == "inswapper_128"
    assert o.metadata["faceplate/model_sha256"] == sha256_file(model)
    assert (o.pixels[..., -1] > 0.99).sum() > 5000
    # A track id that is not in the file: one-line error, nothing written.
    assert main(args[:-1] + ["7"]) == 2
    # The classical engine cannot run from an embedding alone.
    assert main(["render", shot.pattern, "--track", shot.track, "--source-embedding", str(emb),
                 "--frames", "1001-1001", "--out", str(tmp_path / "c" / "o.####.exr")]) == 2
    assert not (tmp_path / "c").exists()


def test_source_photos_are_averaged_and_outliers_dropped(package_faces, tmp_path, caplog):
    import cv2
    from faceplate.core.models.zoo import load_detector, load_landmarker, load_recognizer
    from faceplate.core.render.source import load_source_identity
    # Three different images of one person (scale, crop, mirror, exposure differ) and another person.
    full = cv2.imread(str(package_faces.astronaut))
    variants = {"astro_small.jpg": cv2.resize(full, (300, 300), interpolation=cv2.INTER_AREA),
                "astro_crop.png": cv2.convertScaleAbs(full[20:300, 100:380], alpha=1.15, beta=-10),
                "astro_mirror.png": full[:, ::-1]}
    photos = []
    for name, img in variants.items():
        assert cv2.imwrite(str(tmp_path / name), img)
        photos.append(str(tmp_path / name))
    photos.append(str(package_faces.person(4)))
    rec = load_recognizer()
    src = load_source_identity(photos, detector=load_detector(), landmarker=load_landmarker(),
                               recognizer=rec)
    assert any("t1_person4.png" in r.message and "dropped" in r.message for r in caplog.records)
    only_her = load_source_identity(photos[:3], detector=load_detector(),
                                    landmarker=load_landmarker(), recognizer=rec)
    assert float(src.embedding @ only_her.embedding) > 0.999
    assert src.sha256 != only_her.sha256


def test_frame_without_a_face_passes_through(shot, full_render, tmp_path):
    """A frame the track file has no entry for: plate bytes unchanged, empty matte, 1x1 empty patch."""
    import json
    data = json.loads(Path(shot.track).read_text())
    del data["tracks"][0]["frames"]["1004"]
    track = tmp_path / "gap.track.json"
    track.write_text(json.dumps(data))
    out = tmp_path / "gap"
    assert main(["render", shot.pattern, "--track", str(track), "--source", shot.source, "--frames", "1004-1004",
                 "--out", str(out / "o.####.exr"), "--patch", str(out / "p.####.exr")]) == 0
    pspec, plate, _ = _read(shot.pattern.replace("####", "1004"))
    ospec, o, _ = _read(out / "o.1004.exr")
    assert np.array_equal(_bits(plate[..., :4], "half"), _bits(o[..., :4], "half"))
    assert not o[..., -1].any()
    patch_spec, patch, _ = _read(out / "p.1004.exr")
    assert (patch_spec.width, patch_spec.height) == (1, 1) and not patch.any()


def test_failed_render_stops_the_plate_reader_thread(shot, tmp_path):
    """An error mid-render must stop the read-ahead thread at once (a Nuke session keeps the traceback)."""
    import threading

    from faceplate.core.io.sequence import PlateSequence
    from faceplate.core.render.pipeline import render
    from faceplate.core.render.settings import RenderSettings
    from faceplate.core.render.source import load_source_identity
    from faceplate.core.io.track_file import load_track_file

    def boom(*_args):
        raise RuntimeError("on_frame failed")

    tf = load_track_file(shot.track)
    source = load_source_identity([shot.source])
    plate = PlateSequence(shot.pattern, frames=FRAMES)
    held = None
    try:
        render(plate, tf, source, RenderSettings(regrain=False), FRAMES, str(tmp_path / "o.####.exr"),
               on_frame=boom, progress=False)
    except RuntimeError as exc:
        held = exc  # keeps the traceback (and render's locals) alive, as an interactive session does
    assert held is not None and held.__traceback__ is not None
    alive = [t.name for t in threading.enumerate() if t.name in ("faceplate-plate-reader", "faceplate-writer")]
    assert alive == []


def test_out_without_frame_placeholder_and_non_finite_matte_settings_fail(shot, tmp_path):
    out = tmp_path / "o"
    base = ["render", shot.pattern, "--track", shot.track, "--source", shot.source, "--frames", "1001-1002"]
    cases = {
        # every frame would overwrite the same single.exr
        "no placeholder": base + ["--out", str(out / "single.exr")],
        # NaN feather silently rendered no face at all
        "nan feather": base + ["--out", str(out / "o.####.exr"), "--feather", "nan"],
    }
    for name, args in cases.items():
        r = _run_cli(args)
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("faceplate: error:")]
        assert r.returncode == 2 and len(lines) == 1, (name, r.stderr)
        assert not out.exists() or not any(out.iterdir()), f"{name}: files written"
    assert "single.exr" in _run_cli(cases["no placeholder"]).stderr


def test_out_onto_the_plate_itself_is_refused(shot, tmp_path):
    import shutil
    pattern = str(tmp_path / Path(shot.pattern).name)  # a copy: a regression must not destroy the shared shot
    shutil.copy(shot.pattern.replace("####", "1001"), pattern.replace("####", "1001"))
    before = Path(pattern.replace("####", "1001")).read_bytes()
    r = _run_cli(["render", pattern, "--track", shot.track, "--source", shot.source, "--frames", "1001-1001",
                  "--out", pattern])
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("faceplate: error:")]
    assert r.returncode == 2 and len(lines) == 1 and "would overwrite input PLATE" in lines[0], r.stderr
    assert Path(pattern.replace("####", "1001")).read_bytes() == before


def test_resume_rerenders_frames_made_from_another_layer(shot, full_render, tmp_path):
    import shutil
    out = tmp_path / "layer"
    out.mkdir()
    shutil.copy(full_render / "out.1001.exr", out / "out.1001.exr")  # made from the default R,G,B
    args = ["render", shot.pattern, "--track", shot.track, "--source", shot.source, "--frames", "1001-1001",
            "--out", str(out / "out.####.exr"), "--resume", "--layer", "CryptoObject00"]
    assert main(args) == 0  # another layer swapped: the old frame is not complete for this job
    assert (out / "out.1001.exr").read_bytes() != (full_render / "out.1001.exr").read_bytes()


def test_anamorphic_regrain_matches_the_plate_noise_in_stored_pixels(tmp_path, package_faces):
    """Grain drawn in desqueezed pixels was averaged away by the squeeze (half strength at 2:1)."""
    from faceplate.core.render.grain import noise_std
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.io.exr import read_image
    from faceplate.core.render.frame import FrameRenderer
    from faceplate.core.render.settings import RenderSettings
    from faceplate.core.types import SwapResult
    from faceplate.core.io.track_file import load_track_file

    shot2 = make_shot(tmp_path / "ana", package_faces.person(2), package_faces.astronaut, frames=[1001], aspect=2.0)
    frame = read_image(shot2.pattern.replace("####", "1001"))
    rng = np.random.default_rng(3)
    frame.pixels[..., :3] = 0.18 + 0.02 * rng.standard_normal(frame.pixels[..., :3].shape).astype(np.float32)

    class CleanSwap:  # a perfectly clean, flat swap: all the grain must come from regrain
        def swap(self, crop, lm, p5, **_kw):
            return SwapResult((0.18 - crop).astype(np.float32), np.ones(crop.shape[:2], np.float32))

    entry = load_track_file(shot2.track).tracks[0].entries[1001]
    layer = FrameRenderer(CleanSwap(), ColourPipeline(), RenderSettings()).face(frame, 1, entry)
    dw = frame.data_window
    rows = slice(layer.y0 - dw.ymin, layer.y0 - dw.ymin + layer.matte.shape[0])
    cols = slice(layer.x0 - dw.xmin, layer.x0 - dw.xmin + layer.matte.shape[1])
    crop = frame.pixels[rows, cols, :3]
    inside = layer.matte > 0.99
    got = noise_std(crop + layer.delta, inside)
    want = noise_std(crop, inside)
    assert np.all(np.abs(got / want - 1.0) < 0.2), (got, want)


def test_swap_with_missing_targets_photo_names_targets_before_analysing(shot, tmp_path):
    out = tmp_path / "sw"
    r = _run_cli(["swap", shot.pattern, "--source", shot.source, "--frames", "1001-1002",
                  "--targets", str(tmp_path / "nobody.jpg"), "--out", str(out / "o.####.exr")])
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("faceplate: error:")]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "--targets" in lines[0] and "nobody.jpg" in lines[0], lines[0]  # not analyze's "--target-face"
    assert "analyze:" not in r.stderr and not out.exists()  # failed before analysing the shot
