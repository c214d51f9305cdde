"""Fast model-free checks: sampling rules, filter maths, clustering/merge on synthetic manifests,
manifest repair after a half-written line, the report and packs of a synthetic dataset."""
from __future__ import annotations

import json
import zipfile

import cv2
import numpy as np
import pytest

from faceplate.training import dataset as ds
from faceplate.training import dataset_manifest as dsm
from faceplate.training import dataset_sources as dss
from faceplate.training import dataset_filters as F
from faceplate.training.dataset_cluster import cluster_dataset, cluster_embeddings


def test_sampling_every_and_per_second():
    img = np.zeros((8, 8, 3), np.uint8)
    every = dss._Sampler(ds.BuildSettings(every=5), 24.0)
    assert [i for i in range(20) if every.take(i, img)] == [0, 5, 10, 15]
    per_s = dss._Sampler(ds.BuildSettings(per_second=2), 24.0)
    assert [i for i in range(48) if per_s.take(i, img)] == [0, 12, 24, 36]
    everything = dss._Sampler(ds.BuildSettings(), 24.0)
    assert all(everything.take(i, img) for i in range(5))


def test_timecode():
    assert dss.timecode(0, 24) == "00:00:00:00"
    assert dss.timecode(24 * 3661 + 5, 24) == "01:01:01:05"


def test_tilt_yaw_and_blur_measures_on_synthetic_input():
    lm = np.zeros((68, 2))
    lm[36:42] = [100, 100]
    lm[42:48] = [200, 100 + 100 * np.tan(np.radians(35))]
    assert F.eye_tilt(lm) == pytest.approx(35, abs=1e-6)
    p5 = np.array([[100, 100], [200, 100], [150, 130], [120, 160], [180, 160]], float)
    assert F.yaw_from_points5(p5) == pytest.approx(0, abs=1e-6)
    p5[2, 0] = 150 + 100 * 0.47  # nose moved one unit of 0.47·tan(yaw) → 45°
    assert F.yaw_from_points5(p5) == pytest.approx(45, abs=0.5)
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (256, 256), interpolation=cv2.INTER_CUBIC)
    sharp = F.sharpness(texture)
    assert sharp > F.sharpness(cv2.GaussianBlur(texture, (0, 0), 1.2)) > F.sharpness(cv2.GaussianBlur(texture, (0, 0), 3))
    # Exposure/contrast does not move the normalised measure much.
    assert F.sharpness((texture * 0.5).astype(np.uint8)) == pytest.approx(sharp, rel=0.2)


def test_occlusion_measure_sees_a_covered_half():
    skin = np.full((256, 256, 3), (200, 150, 120), np.uint8)
    noise = np.random.default_rng(1).integers(-12, 12, skin.shape)
    face = np.clip(skin + noise, 0, 255).astype(np.uint8)
    assert F.occlusion(face) < 0.2
    covered = face.copy()
    covered[:, 128:] = (90, 90, 90)
    assert F.occlusion(covered) > 0.9


def _fake_dataset(tmp_path, groups: dict[str, list[np.ndarray]]):
    out = tmp_path / "ds"
    out.mkdir()
    state = {"format": dsm.FORMAT, "settings": ds.BuildSettings().to_dict(), "size": 64, "models": {},
             "inputs": {g: {"source": g, "status": "done"} for g in groups}}
    dsm.write_state(out, state)
    rows = []
    for g, embs in groups.items():
        for i, e in enumerate(embs):
            fid = f"{g}_{i:06d}_00"
            rel = f"{g}/unsorted/{fid}.png"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / rel), np.full((64, 64, 3), 40 * i % 255, np.uint8))
            rows.append({"id": fid, "group": g, "frame": i, "kept": True, "reason": None, "cluster": None,
                         "path": rel, "embedding": (e / np.linalg.norm(e)).tolist()})
    rows.append({"id": "a_rejected", "group": list(groups)[0], "frame": 99, "kept": False, "reason": "blur",
                 "cluster": None, "path": None, "embedding": None})
    dsm.write_manifest(out, rows)
    return out


def _people(rng, centre, n):
    return [centre + 0.05 * rng.standard_normal(centre.shape) for _ in range(n)]


def test_cluster_per_group_and_merged(tmp_path):
    rng = np.random.default_rng(3)
    alice, bob = rng.standard_normal(128), rng.standard_normal(128)
    # Group a: mostly alice; group b: mostly bob → per-group numbering differs, merged it agrees.
    out = _fake_dataset(tmp_path, {"a": _people(rng, alice, 5) + _people(rng, bob, 2),
                                   "b": _people(rng, bob, 4) + _people(rng, alice, 1)})
    per_group = cluster_dataset(out, classes=2)
    assert per_group == {"a": {0: 5, 1: 2}, "b": {0: 4, 1: 1}}
    merged = cluster_dataset(out, classes=2, merge_groups=True)
    rows = [r for r in dsm.read_manifest(out) if r["kept"]]
    alice_k = {r["cluster"] for r in rows if (r["group"] == "a" and r["frame"] < 5) or (r["group"] == "b" and r["frame"] == 4)}
    bob_k = {r["cluster"] for r in rows} - alice_k
    assert len(alice_k) == 1 and len(bob_k) == 1
    assert merged["a"][alice_k.pop()] == 5 and merged["b"][bob_k.pop()] == 4
    for r in rows:
        assert (out / r["path"]).exists() and r["path"].split("/")[1] == str(r["cluster"])
    auto = cluster_embeddings(np.stack(_people(rng, alice, 3) + _people(rng, bob, 3)), threshold=0.3)
    assert sorted(auto.tolist()) == [0, 0, 0, 1, 1, 1]


def test_manifest_repair_drops_a_half_written_frame(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    good = [{"id": "g_1_0", "group": "g", "frame": 1}, {"id": "g_2_0", "group": "g", "frame": 2},
            {"id": "g_2_1", "group": "g", "frame": 2}]
    text = "".join(json.dumps(r) + "\n" for r in good) + '{"id": "g_2_2", "gro'
    (out / dsm.MANIFEST).write_text(text)
    rows = dsm._repair_manifest(out)
    assert [r["id"] for r in rows] == ["g_1_0"]  # frame 2 is redone as a whole
    assert dsm.read_manifest(out) == rows


def test_manifest_repair_rewinds_a_committed_frame_it_drops(tmp_path):
    # killed while appending frame 3's FIRST row: frame 2 (fully committed, state already past it)
    # is dropped with it, so the state must be rewound or frame 2 is never redone (rows lost)
    out = tmp_path / "ds"
    out.mkdir()
    good = [{"id": "g_1_0", "group": "g", "frame": 1}, {"id": "g_2_0", "group": "g", "frame": 2}]
    (out / dsm.MANIFEST).write_text("".join(json.dumps(r) + "\n" for r in good) + '{"id": "g_3_0", "gro')
    state = {"inputs": {"g": {"next_frame": 3, "status": "done"}}}
    rows = dsm._repair_manifest(out, state)
    assert [r["id"] for r in rows] == ["g_1_0"]
    assert state["inputs"]["g"] == {"next_frame": 2, "status": "partial"}


def test_report_and_pack_of_a_synthetic_dataset(tmp_path):
    from faceplate.training.dataset_report import pack, report
    rng = np.random.default_rng(5)
    out = _fake_dataset(tmp_path, {"shot": _people(rng, rng.standard_normal(128), 3)})
    html = report(out).read_text()
    assert "blur</td><td>1" in html and "shot / unsorted: 3 faces" in html
    (zip_path,) = pack(out)
    names = zipfile.ZipFile(zip_path).namelist()
    assert sorted(names) == ["shot/manifest.jsonl"] + [f"shot/unsorted/shot_{i:06d}_00.png" for i in range(3)]


def test_discover_classifies_inputs(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("b.mp4", "a.mov"):
        (clips / name).write_bytes(b"")
    seq = tmp_path / "seq"
    seq.mkdir()
    for f in (1001, 1002, 1003):
        (seq / f"plate.{f}.exr").write_bytes(b"")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("x.jpg", "y.png"):
        (photos / name).write_bytes(b"")
    found = dss.discover([str(clips), str(seq / "plate.####.exr"), str(photos), str(seq)])
    assert [(s.kind, s.group) for s in found] == [("video", "a"), ("video", "b"), ("images", "plate"),
                                                  ("images", "photos"), ("images", "seq")]
    assert [f for f, _ in found[2].files] == [1001, 1002, 1003] == [f for f, _ in found[4].files]
    assert [f for f, _ in found[3].files] == [0, 1]
    with pytest.raises(ds.FaceplateError, match="no such file"):
        dss.discover([str(tmp_path / "nope.mp4")])
