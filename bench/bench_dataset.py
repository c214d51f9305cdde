"""Dataset builder throughput on a 1080p clip with the default models.

    python bench/bench_dataset.py [--frames 96] [--workers N] [--out docs/BENCH_DATASET.md]

Makes a 1920×1080 clip by upscaling the Tears of Steel asset (Lanczos, H.264 via PyAV) into a temp
folder, then measures:
  1. decode only (PyAV, the builder's decode path) — frames/s;
  2. analysis per frame in one process, split into detection (+landmarks), measuring/aligning and
     embedding, and PNG encoding + atomic write;
  3. the whole `build` end to end with N worker processes (default: all cores) — frames/s.
Prints the figures and writes them as a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
ASSET = REPO.parent / "shared" / "assets" / "media" / "video" / "clip_01_tears_of_steel.mp4"


def make_1080p(src: Path, dst: Path, frames: int) -> None:
    import av
    from faceplate.core.io.video import read_video
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for i, rgb in read_video(str(src), stop=frames):
            big = cv2.resize(rgb, (1920, 1080), interpolation=cv2.INTER_LANCZOS4)
            for packet in stream.encode(av.VideoFrame.from_ndarray(big, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--out", default=str(REPO / "docs" / "BENCH_DATASET.md"))
    args = parser.parse_args()
    if not ASSET.exists():
        print(f"missing {ASSET}", file=sys.stderr)
        return 2

    from faceplate.core.geometry import align
    from faceplate.core.analyze.pyramid import detect_faces
    from faceplate.core.filesystem import atomic_write_bytes
    from faceplate.core.io.video import read_video
    from faceplate.training import dataset as ds
    from faceplate.training.dataset_filters import FilterSettings, judge, measure

    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    clip = tmp / "tos_1080p.mp4"
    make_1080p(ASSET, clip, args.frames)

    t = time.perf_counter()
    frames = [rgb for _, rgb in read_video(str(clip))]
    decode_s = time.perf_counter() - t
    n = len(frames)

    # Every filter off except the size floor, so every detected face goes through the whole path.
    settings = ds.BuildSettings(size=args.size, filters=FilterSettings(min_face_fraction=None, min_sharpness=None,
                                                                       max_yaw=None, max_tilt=None,
                                                                       max_occlusion=None, max_incomplete=None,
                                                                       dedupe_hash=None))
    models = ds.load_models(settings)
    cv2.setNumThreads(1)
    detect_s = measure_s = embed_s = write_s = 0.0
    faces = 0
    for i, img in enumerate(frames):
        t0 = time.perf_counter()
        dets = detect_faces(models["detector"], img, min_face=settings.min_face * 0.75)
        lms = [models["landmarker"].landmarks(img, d) for d in dets]
        t1 = time.perf_counter()
        crops = []
        for d, lm in zip(dets, lms):
            m = align.ffhq_transform(lm, settings.size)
            crop = ds.align_crop(img, m, settings.size)
            meas = measure(crop, lm, d.points5, d.box, m, (img.shape[1], img.shape[0]), settings.size)
            judge(meas, settings.filters, settings.min_face)
            crops.append(crop)
        t2 = time.perf_counter()
        for d in dets:
            models["recognizer"].embed(img, d.points5)
        t3 = time.perf_counter()
        for k, crop in enumerate(crops):
            atomic_write_bytes(tmp / "png" / f"{i:04d}_{k}.png", ds.encode_png(crop, 8))
        t4 = time.perf_counter()
        detect_s += t1 - t0
        measure_s += t2 - t1
        embed_s += t3 - t2
        write_s += t4 - t3
        faces += len(dets)
    analysis_total = detect_s + measure_s + embed_s + write_s

    t = time.perf_counter()
    result = ds.build([str(clip)], tmp / "ds", settings, workers=workers, show_progress=False)
    build_s = time.perf_counter() - t

    total_serial = decode_s + analysis_total
    rows = [
        ("decode (PyAV, 1080p H.264)", decode_s, decode_s / total_serial),
        ("detection + 68 landmarks", detect_s, detect_s / total_serial),
        ("align (area+Lanczos) + filters", measure_s, measure_s / total_serial),
        ("identity embedding (dlib 128)", embed_s, embed_s / total_serial),
        ("PNG encode + atomic write", write_s, write_s / total_serial),
    ]
    lines = [
        "# Dataset builder benchmark",
        "",
        f"`python bench/bench_dataset.py --frames {args.frames}` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average at the end "
        f"{os.getloadavg()[0]:.1f} (other jobs on the machine inflate every figure; compare shares, not seconds).",
        f"Clip: Tears of Steel asset upscaled to 1920×1080 (H.264), {n} frames, {faces} faces detected; "
        f"crop {settings.size}², default models (RetinaFace mnet0.25 embedded, dlib 68, dlib 128); filters off "
        f"so every face takes the full path.",
        "",
        "| stage (one process, serial) | seconds | share |",
        "|---|---|---|",
        *[f"| {name} | {sec:.2f} | {share * 100:.0f} % |" for name, sec, share in rows],
        f"| **serial total** | {total_serial:.2f} | {n / total_serial:.2f} frames/s |",
        "",
        f"**`build` end to end, decode thread + {workers} worker process(es): {build_s:.2f} s for {n} frames = "
        f"{n / build_s:.2f} frames/s** (includes starting the workers and loading their models; "
        f"{result.faces} faces, {result.kept} written).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
