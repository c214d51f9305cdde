"""How big and how fast baked tracks are in a saved Nuke script (no Nuke needed).

    python bench/nuke_nk_bake.py [--tracks 4] [--frames 1000]

Builds a track file, bakes it into FaceSwap knobs (curve text as Nuke saves it), then times what a
farm render task does with the script: parse it, read the node's settings, read the baked keys
and write edits back (apply_key_edits). Prints sizes and timings.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json  # noqa: E402

from faceplate.nuke import bake, key_edits  # noqa: E402
from faceplate.nuke.nk_script import NkScript  # noqa: E402
from faceplate.nuke.settings import FaceSwapSettings  # noqa: E402
from tests.nuke_plugin.conftest import make_track_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=4)
    ap.add_argument("--frames", type=int, default=1000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        track = root / "cache" / "FaceSwap1.track.json"
        t0 = time.perf_counter()
        tf = make_track_file(track, frames=range(1001, 1001 + a.frames), track_ids=tuple(range(1, a.tracks + 1)),
                             width=4096, height=2160)
        t_make = time.perf_counter() - t0
        t0 = time.perf_counter()
        plans = bake.bake_plan(json.loads(track.read_text()))
        t_plan = time.perf_counter() - t0
        lines = []
        for p in plans:
            kid = 12 if p.kind == "XY_Knob" else 15
            lines.append(f' addUserKnob {{{kid} {p.name} l "{p.label}"}}')
            curves = " ".join("{curve " + " ".join(f"x{f} {v:.6f}" for f, v in idx) + "}" for idx in p.keys)
            lines.append(f" {p.name} {{{curves}}}")
        last = 1000 + a.frames
        nk = root / "shot.nk"
        nk.write_text(f"Root {{\n project_directory {root}\n first_frame 1001\n last_frame {last}\n}}\nRead {{\n inputs 0\n file /p/plate.####.exr\n"
                      f" name Read1\n}}\nFaceSwap {{\n source_file /s.jpg\n cache_dir {root}/cache\n"
                      + "\n".join(lines) + "\n name FaceSwap1\n}\n")
        t0 = time.perf_counter()
        FaceSwapSettings.from_nk(nk, "FaceSwap1")
        t_args = time.perf_counter() - t0
        t0 = time.perf_counter()
        script = NkScript.load(nk)
        node = script.node("FaceSwap1")
        curves = {k: script.curves(node, k) for k in node.knobs if k.startswith(bake.KNOB_PREFIX)}
        t_curves = time.perf_counter() - t0
        t0 = time.perf_counter()
        changed = key_edits.apply_key_edits(tf, curves)
        t_edits = time.perf_counter() - t0
        keys = sum(len(idx) for p in plans for idx in p.keys)
        print(f"{a.tracks} tracks x {a.frames} frames: {len(plans)} knobs, {keys} keys")
        print(f"  .nk size {nk.stat().st_size / 1e6:.2f} MB, track file {track.stat().st_size / 1e6:.2f} MB")
        print(f"  make track file {t_make:.2f}s  bake plan {t_plan:.3f}s")
        print(f"  FaceSwapSettings.from_nk {t_args:.3f}s  read baked curves {t_curves:.3f}s  "
              f"apply_key_edits {t_edits:.3f}s ({len(changed)} frames flagged: expect 0, keys are 6 decimals)")


if __name__ == "__main__":
    main()
