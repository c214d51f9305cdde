"""The track-file fuzz at scale (tests/core/cli/test_track_fuzz.py runs 320 cases in the suite).

    python bench/bench_track_fuzz.py --cases 5000 --seed 1

Prints the counts (refused by the loader, rendered) and every failure: an exception other than
the one-line TrackFileError, a case over the per-case timeout, or a pixel changed outside the matte.
Needs the shared assets (FACEPLATE_ASSETS or ../shared/assets).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.core.small_shot import make_small_shot  # noqa: E402
from tests.core.track_fuzz import run_cases  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    args = ap.parse_args()
    assets = Path(os.environ.get("FACEPLATE_ASSETS", Path(__file__).resolve().parents[2] / "shared" / "assets"))
    with tempfile.TemporaryDirectory() as tmp:
        shot = make_small_shot(Path(tmp) / "shot", assets / "media/face_recognition/biden.jpg",
                               assets / "media/face_recognition/obama.jpg", frames=(1001,))
        t0 = time.perf_counter()
        summary = run_cases(shot, Path(tmp), args.cases, args.seed, args.timeout)
    print(f"{summary['cases']} cases in {time.perf_counter() - t0:.0f} s: {summary['refused']} refused, "
          f"{summary['rendered']} rendered, {len(summary['failures'])} failures")
    for failure in summary["failures"]:
        print(" ", failure)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
