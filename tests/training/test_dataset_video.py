"""`faceplate dataset build` on a video file (made here from a face an installed package carries)."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.package_faces import write_video


def test_dataset_build_reads_a_video(package_faces, tmp_path):
    clip = write_video(tmp_path / "take_01.mp4", package_faces.astronaut, frames=6, face_px=180)
    out = tmp_path / "faces"
    r = subprocess.run([sys.executable, "-m", "faceplate.core.cli", "dataset", "build", str(clip), "-o", str(out),
                        "--size", "256"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.strip()]
    assert [row["frame"] for row in rows] == list(range(6)), rows  # one face per decoded frame
    kept = [row for row in rows if row["kept"]]
    assert len(kept) >= 1 and all(row.get("reason") == "duplicate" for row in rows if row not in kept)
    assert all((out / row["path"]).is_file() for row in kept)
