"""Dataset builder on real media: alignment, every filter on constructed cases, clustering purity,
manifest completeness, bad inputs, EXR sequences, resume after SIGKILL, the CLI."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.core.geometry import align
from faceplate.core.errors import FaceplateError
from faceplate.training import dataset as ds
from faceplate.training import dataset_manifest as dsm
from faceplate.training import dataset_sources as dss
from faceplate.training.dataset_filters import REASONS, FilterSettings, eye_centres

FR = "media/face_recognition/"
HAMILTON = FR + "short_hamilton_clip.mp4"
TOS = "media/video/clip_01_tears_of_steel.mp4"
ROW_FIELDS = {"id", "source", "frame", "timecode", "box", "landmarks", "points5", "score", "sharpness", "yaw",
              "pitch", "roll", "eye_tilt", "face_fraction", "kept", "reason", "group", "cluster", "path"}


@pytest.fixture(scope="module")
def long_clip(package_faces, tmp_path_factory) -> Path:
    """300 frames (12.5 s) of a real face moving: what a short interview clip gives the builder."""
    from tests.package_faces import write_video
    return write_video(tmp_path_factory.mktemp("clip") / "interview.mp4", package_faces.person(2), frames=300,
                       face_px=120, drift=2)


@pytest.fixture(scope="module")
def models():
    return ds.load_models(ds.BuildSettings())


def rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1])


def main_face(faces: list[dict]) -> dict:
    assert faces, "no face found"
    return max(faces, key=lambda f: f["face_size"])


def video_frame(path: Path, index: int) -> np.ndarray:
    from faceplate.core.io.video import read_video
    for i, frame in read_video(str(path), start=index, stop=index + 1):
        return frame
    raise AssertionError(f"no frame {index}")


@pytest.mark.assets
@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg"])
def test_photo_face_is_aligned_to_the_template(asset, models, name):
    """Eye centres land at the FFHQ template position (within 2 px at 1024²) — re-detected in the crop."""
    img = rgb(asset(FR + name))
    face = main_face(ds.analyse_frame(img, ds.BuildSettings(size=1024), models))
    m = np.asarray(face["transform"])
    expected = align.transform_points(np.stack(eye_centres(np.asarray(face["landmarks"]))), m)
    # The template: eyes level, centred horizontally, ~0.25 of the crop apart.
    assert abs(expected[:, 0].mean() - 511.5) < 2 and abs(expected[0, 1] - expected[1, 1]) < 12
    crop = ds.align_crop(img, m, 1024)
    from faceplate.core.analyze.pyramid import detect_faces
    det = max(detect_faces(models["detector"], crop), key=lambda d: d.score)
    found = np.stack(eye_centres(models["landmarker"].landmarks(crop, det)))
    # Re-detected in the crop: the mean eye error within 2 px at 1024² (dlib's landmarks are whole
    # pixels of the source, ~2.4 crop px here, so single eyes may be off by a little more).
    errors = np.linalg.norm(found - expected, axis=1)
    assert errors.mean() < 2.0 and errors.max() < 3.0


def _rotate_eyeline_to(img: np.ndarray, face: dict, degrees: float) -> np.ndarray:
    left, right = eye_centres(np.asarray(face["landmarks"]))
    current = np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0]))
    centre = tuple(float(v) for v in (left + right) / 2)
    rot = cv2.getRotationMatrix2D(centre, current - degrees, 1.0)  # cv2: positive = counter-clockwise
    return cv2.warpAffine(img, rot, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


@pytest.mark.assets
def test_each_filter_rejects_its_constructed_case_and_keeps_the_good_face(asset, models):
    settings = ds.BuildSettings(size=512)
    img = rgb(asset(FR + "obama.jpg"))
    good = main_face(ds.analyse_frame(img, settings, models))
    assert good["reason"] is None, good  # the clean photo is kept
    assert good["png"] and good["embedding"] and len(good["embedding"]) == 128
    lm = np.asarray(good["landmarks"])
    x0, y0, x1, y1 = (int(v) for v in good["box"])

    def reason(image):
        return main_face(ds.analyse_frame(image, settings, models))["reason"]

    assert reason(_rotate_eyeline_to(img, good, 40.0)) == "tilt"
    assert reason(_rotate_eyeline_to(img, good, -40.0)) == "tilt"
    assert reason(_rotate_eyeline_to(img, good, 15.0)) is None          # a readable roll is kept
    assert reason(cv2.GaussianBlur(img, (0, 0), 3.0)) == "blur"
    assert reason(cv2.GaussianBlur(img, (0, 0), 0.6)) is None
    assert reason(cv2.resize(img, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)) == "small"
    covered = img.copy()
    covered[max(0, y0 - 20):y1 + 20, int(lm[27, 0]):x1 + 20] = 128      # image-right half of the face
    assert reason(covered) == "occluded"
    bar = img.copy()
    bar[int(lm[19, 1]) - 10:int(lm[29, 1]), x0 - 10:x1 + 10] = (40, 40, 40)  # a dark bar over both eyes
    assert reason(bar) == "occluded"
    cut = np.ascontiguousarray(img[:, :int(lm[30, 0]) + 5])             # face cut by the frame edge
    assert reason(cut) == "occluded"


@pytest.mark.assets
def test_profile_is_rejected_and_a_three_quarter_view_kept(asset, models):
    settings = ds.BuildSettings(size=256, filters=FilterSettings(min_face_fraction=None, min_sharpness=None))
    profile = ds.analyse_frame(video_frame(asset(TOS), 48), settings, models)   # man on the bridge, side on
    assert [f["reason"] for f in profile] == ["profile"]
    assert abs(profile[0]["yaw"]) > 70
    three_quarter = main_face(ds.analyse_frame(video_frame(asset(TOS), 225), settings, models))
    assert three_quarter["reason"] is None and 20 < abs(three_quarter["yaw"]) < 70


@pytest.mark.assets
def test_photos_cluster_obama_apart_from_biden(asset, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama-480p.jpg", "obama_small.jpg", "biden.jpg"]:
        os.symlink(asset(FR + name), photos / name)
    out = tmp_path / "ds"
    settings = ds.BuildSettings(size=256, filters=FilterSettings(min_face_fraction=None, dedupe_hash=None))
    ds.build([str(photos)], out, settings, workers=0, show_progress=False)
    from faceplate.training.dataset_cluster import cluster_dataset
    cluster_dataset(out, classes=2)
    rows = [r for r in dsm.read_manifest(out) if r["kept"]]
    truth = ["biden" if "biden" in r["source"] else "obama" for r in rows]
    assert truth.count("obama") >= 4 and truth.count("biden") == 1
    for person in ("obama", "biden"):
        labels = [r["cluster"] for r, t in zip(rows, truth) if t == person]
        purity = max(labels.count(k) for k in set(labels)) / len(labels)
        assert purity >= 0.95
    assert {r["cluster"] for r, t in zip(rows, truth) if t == "obama"}.isdisjoint(
        {r["cluster"] for r, t in zip(rows, truth) if t == "biden"})
    for r in rows:  # files moved into their identity folder
        assert r["path"] == f"photos/{r['cluster']}/{r['id']}.png" and (out / r["path"]).exists()
    assert not (out / "photos" / "unsorted").exists()
    auto = cluster_dataset(out, auto=True)
    assert auto["photos"][0] >= 4 and len(auto["photos"]) == 2


def test_manifest_holds_every_face_and_reason(long_clip, tmp_path):
    out = tmp_path / "ds"
    result = ds.build([str(long_clip)], out, ds.BuildSettings(size=256, every=45), workers=0,
                      show_progress=False)
    rows = dsm.read_manifest(out)
    entry = result.inputs["interview"]
    assert entry["status"] == "done" and entry["sampled"] == 7 and len(rows) == entry["faces"] >= 7
    for r in rows:
        assert ROW_FIELDS <= set(r), ROW_FIELDS - set(r)
        assert len(r["landmarks"]) == 68 and len(r["points5"]) == 5 and r["frame"] % 45 == 0
        if r["kept"]:
            assert r["reason"] is None and (out / r["path"]).exists()
        else:
            assert r["reason"] in REASONS and r["path"] is None
    # Default rules at 256²: every face is kept or rejected with its reason, nothing is silently lost.
    assert sum(result.rejected.values()) + result.kept == len(rows)
    assert (out / "dataset.json").exists()
    report = (out / "report").exists()  # only the CLI writes a report by default
    assert report is False


def _tree_digest(out: Path) -> dict[str, str]:
    files = {}
    for p in sorted(out.rglob("*.png")):
        if p.relative_to(out).parts[0] == "report":
            continue
        files[str(p.relative_to(out))] = hashlib.sha256(p.read_bytes()).hexdigest()
    files["manifest.jsonl"] = hashlib.sha256((out / "manifest.jsonl").read_bytes()).hexdigest()
    return files


def test_resume_after_sigkill_gives_the_same_dataset(long_clip, tmp_path):
    clip = str(long_clip)
    args = ["build", clip, "--size", "256", "--every", "9", "--min-face-fraction", "off", "--workers", "0"]
    ref = tmp_path / "ref"
    ds.build([clip], ref, _cli_settings(args), workers=0, show_progress=False)
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "faceplate.core.cli", "dataset", *args, "-o", str(killed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            m = killed / "manifest.jsonl"
            if m.exists() and m.read_text().count("\n") >= 8:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    partial = dsm.read_manifest(killed)
    assert 8 <= len(partial) < len(dsm.read_manifest(ref)), "the run was not interrupted mid-way"
    # Same command again: same settings → continues where it stopped.
    result = ds.build([clip], killed, _cli_settings(args), workers=0, show_progress=False)
    assert result.inputs["interview"]["status"] == "done"
    assert _tree_digest(killed) == _tree_digest(ref)
    ref_entry = dsm.read_state(ref)["inputs"]["interview"]
    for key in ("faces", "kept", "next_frame", "frames"):
        assert result.inputs["interview"][key] == ref_entry[key], key
    assert not list(killed.rglob(".*.tmp*"))
    # A finished input is skipped on a re-run.
    again = ds.build([clip], killed, _cli_settings(args), workers=0, show_progress=False)
    assert again.faces == result.faces and _tree_digest(killed) == _tree_digest(ref)


def _cli_settings(argv: list[str]) -> ds.BuildSettings:
    from faceplate.core.cli.__init__ import build_parser
    from faceplate.training.dataset_cli import settings_from_args
    args = build_parser().parse_args(["dataset", *argv, "-o", "unused"])
    return settings_from_args(args)


def test_bad_inputs_are_skipped_named_and_counted(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    empty = tmp_path / "noface"
    empty.mkdir()
    cv2.imwrite(str(empty / "grey.png"), np.full((200, 300, 3), 128, np.uint8))
    out = tmp_path / "ds"
    result = ds.build([str(bad), str(empty)], out, ds.BuildSettings(size=256), workers=0, show_progress=False)
    assert result.skipped == [str(bad)]
    assert result.inputs["broken"]["status"] == "failed" and "broken.mp4" in result.inputs["broken"]["error"]
    assert result.inputs["noface"]["status"] == "done" and result.faces == 0
    from faceplate.training.dataset_report import report
    html = report(out).read_text()
    assert "No faces were found" in html and "broken.mp4" in html


def test_truncated_video_keeps_its_faces_and_is_named(long_clip, tmp_path):
    import av
    fast = tmp_path / "fast.mp4"  # moov atom first, so a cut-off copy still opens
    with av.open(str(long_clip)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:len(data) // 2])
    result = ds.build([str(cut)], tmp_path / "ds", ds.BuildSettings(size=256, every=60), workers=0,
                      show_progress=False)
    entry = result.inputs["cut"]
    assert entry["status"] == "truncated" and "truncated" in entry["error"] and result.skipped == [str(cut)]
    assert 0 < entry["sampled"] < 5 and result.faces > 0


def test_output_folder_rules(package_faces, tmp_path):
    photo = str(package_faces.astronaut)
    out = tmp_path / "ds"
    s = ds.BuildSettings(size=256, filters=FilterSettings(min_face_fraction=None))
    ds.build([photo], out, s, workers=0, show_progress=False)
    other = ds.BuildSettings(size=256, min_face=80)
    with pytest.raises(FaceplateError, match="other settings"):
        ds.build([photo], out, other, workers=0, show_progress=False)
    ds.build([photo], out, other, workers=0, resume=True, show_progress=False)   # --resume continues
    with pytest.raises(FaceplateError, match="--size"):
        ds.build([photo], out, ds.BuildSettings(size=512), workers=0, resume=True, show_progress=False)
    r = ds.build([photo], out, ds.BuildSettings(size=512), workers=0, force=True, show_progress=False)
    assert r.faces == 1 and dsm.read_state(out)["size"] == 512
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FaceplateError, match="not empty"):
        ds.build([photo], foreign, s, workers=0, show_progress=False)


def test_disk_full_leaves_no_half_written_png(package_faces, tmp_path, monkeypatch):
    import errno

    from faceplate.core import filesystem

    real_replace = os.replace

    def full(src, dst):  # the disk fills up while a PNG is being written
        if str(dst).endswith(".png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(filesystem.os, "replace", full)
    out = tmp_path / "ds"
    s = ds.BuildSettings(size=256, filters=FilterSettings(min_face_fraction=None))
    with pytest.raises(FaceplateError, match="free disk space"):
        ds.build([str(package_faces.astronaut)], out, s, workers=0, show_progress=False)
    assert not [p for p in out.rglob("*") if p.is_file() and p.suffix != ".jsonl" and p.name != "dataset.json"]
    monkeypatch.undo()
    r = ds.build([str(package_faces.astronaut)], out, s, workers=0, show_progress=False)
    assert r.kept == 1


def test_exr_sequence_through_the_colour_pipeline_to_16_bit(package_faces, models, tmp_path):
    import OpenImageIO as oiio

    from faceplate.core.colour import ColourPipeline
    linear = ColourPipeline().from_uint8(rgb(package_faces.astronaut))
    seq = tmp_path / "plate"
    seq.mkdir()
    for frame in (1001, 1002):
        spec = oiio.ImageSpec(linear.shape[1], linear.shape[0], 3, oiio.HALF)
        buf = oiio.ImageBuf(spec)
        buf.set_pixels(oiio.ROI(), linear * (1.0 if frame == 1001 else 1.02))
        assert buf.write(str(seq / f"plate.{frame}.exr"))
    out = tmp_path / "ds"
    s = ds.BuildSettings(size=256, bit_depth=16, filters=FilterSettings(min_face_fraction=None, dedupe_hash=None))
    result = ds.build([str(seq / "plate.####.exr")], out, s, workers=0, show_progress=False)
    rows = dsm.read_manifest(out)
    assert [r["frame"] for r in rows] == [1001, 1002] and result.kept == 2
    png = cv2.imread(str(out / rows[0]["path"]), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (256, 256, 3)
    # Same face as from the 8-bit photo (the EXR is the photo, linearised).
    direct = main_face(ds.analyse_frame(rgb(package_faces.astronaut), ds.BuildSettings(size=256), models))
    assert np.abs(np.asarray(rows[0]["box"]) - np.asarray(direct["box"])).max() < 3


def test_shot_change_sampling_finds_the_cut(package_faces, tmp_path):
    from tests.package_faces import write_video
    clip = write_video(tmp_path / "two_shots.mp4", package_faces.person(2), frames=120, drift=1,
                       cut_to=package_faces.astronaut, cut_at=63)
    src = dss.discover([str(clip)])[0]
    s = ds.BuildSettings(shot_change=True)
    sampler = dss._Sampler(s, 24.0)
    taken = [f for f, _p, _tc, img in dss.iter_frames(src, s) if sampler.take(f, img)]
    assert taken[0] == 0 and any(60 < f <= 66 for f in taken) and len(taken) < 20


@pytest.mark.assets
def test_cli_build_cluster_pack_report_with_worker_processes(asset, tmp_path):
    from faceplate.core.cli.__init__ import main
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ["obama.jpg", "obama2.jpg", "biden.jpg"]:
        os.symlink(asset(FR + name), photos / name)
    out = tmp_path / "ds"
    assert main(["dataset", "build", str(photos), "-o", str(out), "--size", "256", "--workers", "2"]) == 0
    # Worker processes give exactly what one process gives.
    serial = tmp_path / "serial"
    ds.build([str(photos)], serial, ds.BuildSettings(size=256), workers=0, show_progress=False)
    assert _tree_digest(out) == _tree_digest(serial)
    assert main(["dataset", "cluster", str(out), "--classes", "2"]) == 0
    assert main(["dataset", "pack", str(out)]) == 0
    assert main(["dataset", "report", str(out)]) == 0
    import zipfile
    names = zipfile.ZipFile(out / "packs" / "photos.zip").namelist()
    assert "photos/manifest.jsonl" in names and sum(n.endswith(".png") for n in names) == 3
    assert sorted(p.name for p in (out / "report").glob("*.png")) == ["photos_0.png", "photos_1.png"]
    assert main(["dataset", "build", str(photos), "-o", str(out), "--size", "512"]) == 2  # refused: other settings


def _children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is ``pid``, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_sigkill_of_the_main_process_takes_its_workers_with_it(asset, tmp_path):
    """Issue 12: SIGKILL of `dataset build` (no clean shutdown) left each worker running (~290 MB)."""
    clip = str(asset(HAMILTON))
    cmd = [sys.executable, "-m", "faceplate.core.cli", "dataset", "build", clip, "--size", "256", "--every", "9",
           "--min-face-fraction", "off", "--workers", "2", "-o", str(tmp_path / "ds")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline:  # both workers up and working
            workers = _children(proc.pid)
            m = tmp_path / "ds" / "manifest.jsonl"
            if len(workers) >= 2 and m.exists() and m.read_text().count("\n") >= 1:
                break
            time.sleep(0.1)
        assert len(workers) >= 2, "the workers never started"
        os.kill(proc.pid, signal.SIGKILL)  # the main process alone, as the OOM killer or a wrangler would
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "workers outlived the killed build"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
