"""Fixtures for the Nuke plugin: the strict fake ``nuke`` module and small real track files."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_NUKE = REPO / "tests" / "fakes" / "nuke.py"
GIZMOS = REPO / "gizmos"
PLUGIN_MODULES = ("faceplate.nuke.host", "faceplate.nuke.live_node", "faceplate.nuke.init", "faceplate.nuke.menu",
                  "faceplate.nuke.panels")


@pytest.fixture
def fake_nuke(monkeypatch):
    """A fresh fake ``nuke`` installed as sys.modules['nuke'], gizmos on its plugin path."""
    spec = importlib.util.spec_from_file_location("nuke", FAKE_NUKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.fake_reset(gui=False, plugin_paths=[str(GIZMOS)])
    monkeypatch.setitem(sys.modules, "nuke", module)
    import faceplate.nuke as package
    for name in PLUGIN_MODULES:  # re-import plugin modules against this fake
        monkeypatch.delitem(sys.modules, name, raising=False)
        monkeypatch.delattr(package, name.rsplit(".", 1)[1], raising=False)
    return module


def make_track_file(path: Path, frames=range(1001, 1004), track_ids=(1, 2), width=640, height=360,
                    pattern="/plates/plate.####.exr"):
    """A valid faceplate.track/1 file with moving faces; returns the TrackFile."""
    from faceplate.core.types import FaceEntry, PlateInfo, Track, TrackFile
    from faceplate.core.io.track_file import save_track_file

    frames = list(frames)
    tracks = []
    for k, tid in enumerate(track_ids):
        entries = {}
        for i, f in enumerate(frames):
            cx, cy, s = 150.0 + 200 * k + 3.25 * i, 120.0 + 1.5 * i, 60.0 + k
            pts = np.array([[cx - 0.3 * s, cy - 0.2 * s], [cx + 0.3 * s, cy - 0.2 * s], [cx, cy + 0.05 * s],
                            [cx - 0.25 * s, cy + 0.3 * s], [cx + 0.25 * s, cy + 0.3 * s]])
            lm = np.stack([np.linspace(cx - s / 2, cx + s / 2, 68), np.linspace(cy - s / 2, cy + s / 2, 68)], 1)
            box = np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])
            entries[f] = FaceEntry(frame=f, source="detected", score=0.9, box=box, box_raw=box + 0.5,
                                   points5=pts, points5_raw=pts + 0.25, landmarks=lm, landmarks_raw=lm + 0.1)
        emb = np.zeros(8, np.float32)
        emb[k] = 1.0
        tracks.append(Track(id=tid, embedding=emb, entries=entries))
    plate = PlateInfo(pattern=pattern, first=frames[0], last=frames[-1], step=1, width=width, height=height,
                      pixel_aspect=1.0, data_window=(0, 0, width - 1, height - 1),
                      display_window=(0, 0, width - 1, height - 1), layer=None, colourspace="scene_linear",
                      fingerprint="test")
    tf = TrackFile(plate=plate, models={"detector": {"name": "test", "sha256": "0" * 64}},
                   settings={"smoothing": 1.0}, cuts=[], tracks=tracks)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_track_file(tf, path)
    return tf


@pytest.fixture
def track_file(tmp_path):
    path = tmp_path / "cache" / "FaceSwap1.track.json"
    make_track_file(path)
    return path
