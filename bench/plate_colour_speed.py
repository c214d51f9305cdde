"""Plate I/O and colour speed: prints figures, asserts nothing.

    python bench/plate_colour_speed.py [--frames 48] [--work-ms 40]

- ColourPipeline on a 2048x1080 frame: to_model / to_linear / to_uint8 (ms, best of 5).
- Reading a 2048x1080 half RGBA (zip) EXR sequence: plain reads vs PlateSequence iteration with
  read-ahead while the consumer spends --work-ms per frame (as detection would): overlapped I/O.
- Peak RSS growth while streaming the sequence (bounded read-ahead: must not grow with length).
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from faceplate.core.colour import ColourPipeline
from faceplate.core.types import PlateFrame, Window
from faceplate.core.io.sequence import PlateSequence
from faceplate.core.io.exr import read_image, write_exr

W, H = 2048, 1080


def best_ms(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def busy(ms: float) -> None:
    """Consumer work that holds the GIL part of the time, like Python-side detection glue."""
    end = time.perf_counter() + ms / 1000
    x = np.ones((256, 256), np.float32)
    while time.perf_counter() < end:
        x = x * 1.0001


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--work-ms", type=float, default=100.0)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    linear = (rng.random((H, W, 3), dtype=np.float32) * 1.5)
    for threads in (1, None):
        colour = ColourPipeline(threads=threads)
        label = f"threads={colour.threads}"
        print(f"colour {label}: to_model {best_ms(lambda: colour.to_model(linear)):.1f} ms, "
              f"to_linear {best_ms(lambda: colour.to_linear(linear / 2)):.1f} ms, "
              f"to_uint8 {best_ms(lambda: colour.to_uint8(linear)):.1f} ms per {W}x{H} frame")

    with tempfile.TemporaryDirectory() as tmp:
        window = Window(0, 0, W - 1, H - 1)
        # Realistic content: the sample photo at 2K, linearised, with film-like grain.
        import cv2

        from faceplate.core.cli.sample import package_image
        photo = cv2.cvtColor(cv2.imread(str(package_image("t1.jpg"))), cv2.COLOR_BGR2RGB)
        photo = cv2.resize(photo, (W, H), interpolation=cv2.INTER_CUBIC)
        plate = ColourPipeline().from_uint8(photo) + rng.normal(0, 0.01, (H, W, 3)).astype(np.float32)
        base = np.dstack([plate, np.ones((H, W, 1), np.float32)])
        for i in range(args.frames):
            frame = PlateFrame(np.roll(base, i * 8, axis=1), ("R", "G", "B", "A"), ("half",) * 4, (0, 1, 2),
                               window, window, metadata={"compression": "zip"})
            write_exr(str(Path(tmp) / f"plate.{1001 + i:04d}.exr"), frame)
        pattern = str(Path(tmp) / "plate.####.exr")
        seq = PlateSequence(pattern)
        t = time.perf_counter()
        for f in seq.frames:
            read_image(seq.path(f))
        read_fps = len(seq.frames) / (time.perf_counter() - t)
        size = sum(p.stat().st_size for p in Path(tmp).glob("plate.*.exr")) / len(seq.frames) / 2**20
        print(f"read: {read_fps:.1f} frames/s ({1000 / read_fps:.0f} ms/frame) of {W}x{H} half RGBA zip EXR "
              f"({size:.1f} MB/frame, photo + grain)")

        rss0 = rss_mb()
        for label, work in (("GIL-free wait (GPU-like)", lambda: time.sleep(args.work_ms / 1000)),
                            ("Python/numpy CPU work", lambda: busy(args.work_ms))):
            t = time.perf_counter()
            for f in seq.frames:
                read_image(seq.path(f))
                work()
            serial = time.perf_counter() - t
            t = time.perf_counter()
            for _ in seq:
                work()
            overlapped = time.perf_counter() - t
            print(f"read + {args.work_ms:.0f} ms {label} per frame: serial {len(seq.frames) / serial:.1f} fps, "
                  f"PlateSequence read-ahead {len(seq.frames) / overlapped:.1f} fps ({serial / overlapped:.2f}x)")
        print(f"peak RSS while streaming {len(seq.frames)} frames: +{rss_mb() - rss0:.0f} MB over {rss0:.0f} MB "
              f"(one frame is {W * H * 4 * 4 / 2**20:.0f} MB as float32)")


if __name__ == "__main__":
    main()
