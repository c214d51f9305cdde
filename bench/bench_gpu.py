"""GPU figures in one run on a machine with a CUDA GPU (a prepared script, not a timed test).

    python bench/bench_gpu.py --dataset DATASET --recognizer MobileFaceNet.onnx --out OUT \\
        [--landmarker pfld98-ghostone] [--detector yunet-n] [--frames 12] [--tiny-steps 400]

1. Render at 2K (bench_render's plate: 2048x1080 RGBA half + depth.Z, one ~300 px face), frames/s and
   wall / max(pure I/O, pure compute): the classical engine; the SimSwap-224-sized network through
   onnxruntime on each execution provider the machine has (TensorRT, CUDA, CPU); and, where
   onnxruntime has no GPU provider, the same network run by torch on CUDA (fp32 and bf16) behind the
   session interface the neural engine calls, so the pipeline around it is the real one.
2. Swapper training steps/s at 224 (swapper_224.yaml's architecture; ``--train-batches``) with AMP (bf16) and
   without, and how much of a step is drawing the batch on the CPU.
3. The tiny swapper config (swapper_tiny_cpu.yaml) for ``--tiny-steps`` steps on the GPU: loss curves.

Writes OUT/gpu_figures.json, OUT/gpu_figures.md, OUT/tiny_losses.csv and OUT/tiny_loss.png.
Runs on a CPU-only machine too (GPU parts reported as not run), which is how it is checked before a
GPU is spent on it: ``--frames 2 --train-steps 2 --tiny-steps 20``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_render import build_simswap_like, make_plate, measure, simswap_like_generator  # noqa: E402
from train_real_run import plot_curves  # noqa: E402


class TorchSession:
    """The part of an onnxruntime InferenceSession that NeuralSwapper uses (get_inputs, run), over a
    torch module on CUDA: a GPU machine may have torch's CUDA but not onnxruntime-gpu."""

    def __init__(self, module, size: int, dim: int, bf16: bool):
        import torch

        self.torch, self.bf16 = torch, bf16
        self.module = module.cuda().eval()
        self._inputs = [SimpleNamespace(name="target", shape=[1, 3, size, size]),
                        SimpleNamespace(name="source", shape=[1, dim])]

    def get_inputs(self):
        return self._inputs

    def run(self, _names, feeds):
        torch = self.torch
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.module(torch.from_numpy(feeds["target"]).cuda(), torch.from_numpy(feeds["source"]).cuda())
        return [out.float().cpu().numpy()]


def environment() -> dict:
    import onnxruntime as ort
    import torch

    env = {"python": platform.python_version(), "cpu_cores": os.cpu_count(), "torch": torch.__version__,
           "onnxruntime": ort.__version__, "onnxruntime_providers": ort.get_available_providers(),
           "cuda": torch.cuda.is_available()}
    if env["cuda"]:
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return env


def network_latency(model_path: str, providers: list[str], bf16_ok: bool, repeats: int = 50) -> dict:
    """Seconds per face of the network alone (batch 1, input already in memory), per runtime."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    feeds = {"target": rng.random((1, 3, 224, 224), np.float32), "source": rng.random((1, 512), np.float32)}
    out = {}
    for p in providers:
        sess = ort.InferenceSession(model_path, providers=[p] if p == "CPUExecutionProvider" else [p, "CPUExecutionProvider"])
        for _ in range(5):
            sess.run(None, feeds)
        t0 = time.perf_counter()
        for _ in range(repeats):
            sess.run(None, feeds)
        out[f"onnxruntime {p}"] = (time.perf_counter() - t0) / repeats
    if bf16_ok:
        for bf16 in (False, True):
            sess = TorchSession(simswap_like_generator(), 224, 512, bf16)
            for _ in range(5):
                sess.run(None, feeds)
            t0 = time.perf_counter()
            for _ in range(repeats):
                sess.run(None, feeds)   # .cpu() synchronises: the time includes both copies
            out[f"torch CUDA {'bf16' if bf16 else 'fp32'}"] = (time.perf_counter() - t0) / repeats
    return {k: round(v, 5) for k, v in out.items()}


def render_figures(tmp: Path, frames_n: int, rounds: int, detector: str | None, landmarker: str | None,
                   assets: Path, cuda: bool) -> tuple[list[dict], dict]:
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.models.session import open_session
    from faceplate.core.models.zoo import load_detector, load_landmarker
    from faceplate.core.render.engines.classical import ClassicalSwapper
    from faceplate.core.render.engines.neural import NeuralSwapper, load_swapper
    from faceplate.core.render.settings import RenderSettings
    from faceplate.core.render.source import load_source_identity
    import onnxruntime as ort

    colour = ColourPipeline()
    tmp.mkdir(parents=True, exist_ok=True)
    pattern, tf, track_sha, _ = make_plate(tmp, frames_n, detector, landmarker)
    source = load_source_identity([str(assets / "media/face_recognition/obama.jpg")], colour=colour,
                                  detector=load_detector(detector), landmarker=load_landmarker(landmarker))
    source.embedding = np.random.default_rng(2).normal(size=512).astype(np.float32)
    settings = RenderSettings()
    frames = list(range(1001, 1001 + frames_n))
    rows = []

    def row(name: str, engine) -> None:
        t0 = time.perf_counter()
        fig = measure(pattern, tf, track_sha, frames, engine, source, settings, colour, tmp, rounds)
        rows.append({"engine": name, "frames": frames_n, "io": round(fig.io, 4), "compute": round(fig.compute, 4),
                     "wall": round(fig.wall, 4), "frames_per_s": round(1 / fig.wall, 2),
                     "wall_over_max_io_compute": round(fig.wall / max(fig.io, fig.compute), 3),
                     "compute_thread_cpu": round(fig.main_cpu, 3), "other_threads_cpu": round(fig.other_cpu, 3)})
        print(f"  {name}: {rows[-1]}  ({time.perf_counter() - t0:.0f} s)", flush=True)

    row("classical (CPU)", ClassicalSwapper(source))
    model_path = str(tmp / "simswap224_like.onnx")
    build_simswap_like(model_path)
    onnx_engine = load_swapper(model_path)
    available = ort.get_available_providers()
    for provider in ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"):
        if provider not in available:
            continue
        session = open_session(model_path, providers=[provider, "CPUExecutionProvider"][:1 if provider.startswith("CPU") else 2])
        engine = NeuralSwapper(session, onnx_engine.contract, onnx_engine.name, onnx_engine.sha256, onnx_engine.emap)
        row(f"neural, onnxruntime {provider.replace('ExecutionProvider', '')}", engine)
    if cuda and "CUDAExecutionProvider" not in available:
        for bf16 in (False, True):
            session = TorchSession(simswap_like_generator(), 224, 512, bf16)
            engine = NeuralSwapper(session, onnx_engine.contract, onnx_engine.name, onnx_engine.sha256, onnx_engine.emap)
            row(f"neural, torch CUDA {'bf16' if bf16 else 'fp32'}", engine)
    latency = network_latency(model_path, [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                                                       "CPUExecutionProvider") if p in available], cuda)
    return rows, latency


def training_rate(dataset: str, recognizer: str, out_dir: Path, steps: int, amp: bool, batch: int,
                  fixed: bool = False) -> dict:
    """Steps/s of swapper_224.yaml's architecture (after 5 warm-up steps) and the batch draw's share;
    ``fixed``: one batch drawn once and reused (the GPU's own rate, no data pipeline)."""
    import torch

    from faceplate.training.config import load_config
    from faceplate.training.swapper_train import SwapperJob
    from faceplate.training.trainer import setup_distributed

    cfg = load_config(REPO / "training/configs/swapper_224.yaml", "swapper")
    cfg.dataset, cfg.recognizer, cfg.out_dir = dataset, recognizer, str(out_dir)
    cfg.amp, cfg.batch_size, cfg.overfit_batches = amp, batch, 1 if fixed else 0
    job = SwapperJob(cfg, setup_distributed())
    sync = torch.cuda.synchronize if job.device.type == "cuda" else (lambda: None)
    for step in range(5):
        job.train_step(step)
    sync()
    torch.cuda.reset_peak_memory_stats() if job.device.type == "cuda" else None
    t0 = time.perf_counter()
    for step in range(5, 5 + steps):
        job.train_step(step)
    sync()
    step_s = (time.perf_counter() - t0) / steps
    job.sampler.set_state(job.sampler.state())   # drop the batch the last step prefetched
    t0 = time.perf_counter()
    for step in range(steps):
        job._batch(step)
    draw_s = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if job.device.type == "cuda" else float("nan")
    return {"device": str(job.device), "amp_bf16": bool(amp and job.device.type == "cuda"), "batch": batch,
            "data": "one fixed batch" if fixed else "drawn each step",
            "input_size": cfg.input_size, "steps_timed": steps, "steps_per_s": round(1 / step_s, 2),
            "images_per_s": round(batch / step_s, 1), "batch_draw_s": round(draw_s, 4),
            "batch_draw_share": round(draw_s / step_s, 3), "peak_gpu_memory_gib": round(peak, 2)}


def tiny_run(dataset: str, recognizer: str, out_dir: Path, steps: int) -> dict:
    """swapper_tiny_cpu.yaml for ``steps`` steps on whatever device is there; first vs last 50 steps."""
    from faceplate.training.config import load_config
    from faceplate.training.swapper_train import train_swapper

    cfg = load_config(REPO / "training/configs/swapper_tiny_cpu.yaml", "swapper")
    cfg.dataset, cfg.recognizer, cfg.out_dir, cfg.steps = dataset, recognizer, str(out_dir), steps
    cfg.log_every, cfg.checkpoint_every = 10, steps
    t0 = time.perf_counter()
    res = train_swapper(cfg, progress=False)
    n = min(50, max(1, len(res.history) // 4))
    keys = ("loss_g", "loss_d", "id", "rec", "fm")
    mean = lambda rows, k: round(float(np.mean([h[k] for h in rows])), 4)
    return {"steps": res.last_step, "seconds": round(time.perf_counter() - t0, 1), "window": n,
            "first": {k: mean(res.history[:n], k) for k in keys}, "last": {k: mean(res.history[-n:], k) for k in keys},
            "eval": {k: round(v, 4) for k, v in res.metrics.items()}}


def markdown(fig: dict) -> str:
    env = fig["environment"]
    lines = ["# GPU figures", "", f"`python bench/bench_gpu.py` on {env.get('gpu', 'no GPU')} "
             f"({env.get('gpu_memory_gib', '-')} GiB), {env['cpu_cores']} CPU cores; torch {env['torch']}, "
             f"onnxruntime {env['onnxruntime']} with providers {', '.join(env['onnxruntime_providers'])}.", ""]
    if "render" in fig:
        lines += ["## Render at 2K", "", "| engine | frames | pure I/O s/frame | pure compute s/frame | wall s/frame | "
                  "frames/s | wall / max(I/O, compute) | CPU s/frame: compute thread + other threads |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in fig["render"]:
            lines.append(f"| {r['engine']} | {r['frames']} | {r['io']:.3f} | {r['compute']:.3f} | {r['wall']:.3f} | "
                         f"{r['frames_per_s']:.2f} | {r['wall_over_max_io_compute']:.2f} | "
                         f"{r['compute_thread_cpu']:.2f} + {r['other_threads_cpu']:.2f} |")
        lines += ["", "The network alone, seconds per face (batch 1, 224², copies included): " +
                  ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in fig["network_latency"].items()) + ".", ""]
    if "training_224" in fig:
        lines += ["## Swapper training at 224 (swapper_224.yaml)", "",
                  "| AMP (bf16) | batch | data | steps/s | images/s | batch draw s (CPU) | draw share | peak GPU GiB |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in fig["training_224"]:
            lines.append(f"| {r['amp_bf16']} | {r['batch']} | {r.get('data', 'drawn each step')} | {r['steps_per_s']} | {r['images_per_s']} | "
                         f"{r['batch_draw_s']} | {r['batch_draw_share']} | {r['peak_gpu_memory_gib']} |")
        lines.append("")
    if "tiny" in fig:
        t = fig["tiny"]
        lines += [f"## Tiny config, {t['steps']} steps in {t['seconds']} s", "",
                  f"| loss | first {t['window']} steps | last {t['window']} steps |", "|---|---|---|"]
        lines += [f"| {k} | {t['first'][k]} | {t['last'][k]} |" for k in t["first"]]
        lines += ["", "Held-out: " + ", ".join(f"{k} {v}" for k, v in t["eval"].items()), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="face dataset folder (<group>/<identity>/*.jpg|png)")
    ap.add_argument("--recognizer", required=True, help="frozen recognizer for the swapper's identity loss (.onnx)")
    ap.add_argument("--out", required=True, help="folder for gpu_figures.json/.md and the tiny run's curves")
    ap.add_argument("--assets", default=os.environ.get("FACEPLATE_ASSETS", str(REPO.parent / "shared" / "assets")),
                    help="folder holding media/face_recognition/{biden,obama}.jpg")
    ap.add_argument("--detector", default=None, help="detector name for the plate's track (default: embedded)")
    ap.add_argument("--landmarker", default=None, help="landmarker name (default: embedded dlib-68)")
    ap.add_argument("--frames", type=int, default=12, help="2K frames per render figure")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per render figure (best counts)")
    ap.add_argument("--train-steps", type=int, default=30, help="timed training steps per setting")
    ap.add_argument("--train-batches", default="8", help="comma list of batch sizes to time at 224")
    ap.add_argument("--fixed-batch", action="store_true", help="also time each setting on one fixed batch")
    ap.add_argument("--tiny-steps", type=int, default=400, help="steps of the tiny config")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: render,train,tiny")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig: dict = {"environment": environment()}
    print(json.dumps(fig["environment"]), flush=True)
    cuda = fig["environment"]["cuda"]

    def save() -> None:   # after every part: a later part that fails leaves the earlier figures
        (out / "gpu_figures.json").write_text(json.dumps(fig, indent=2))
        (out / "gpu_figures.md").write_text(markdown(fig))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "render" not in skip:
            t0 = time.perf_counter()
            fig["render"], fig["network_latency"] = render_figures(tmp / "render", args.frames, args.rounds,
                                                                   args.detector, args.landmarker, Path(args.assets), cuda)
            print(f"render: {time.perf_counter() - t0:.0f} s", flush=True)
            save()
        if "train" not in skip:
            fig["training_224"] = []
            settings = [(int(b), a, f) for b in args.train_batches.split(",") for a in (True, False)
                        for f in ((False, True) if args.fixed_batch else (False,))]
            for batch, amp, fixed in settings:
                t0 = time.perf_counter()
                fig["training_224"].append(training_rate(args.dataset, args.recognizer, tmp / f"t224_{batch}_{amp}_{fixed}",
                                                         args.train_steps, amp, batch, fixed))
                print(f"train 224 amp={amp}: {fig['training_224'][-1]} ({time.perf_counter() - t0:.0f} s)", flush=True)
                save()
        if "tiny" not in skip:
            fig["tiny"] = tiny_run(args.dataset, args.recognizer, tmp / "tiny", args.tiny_steps)
            shutil.copy(tmp / "tiny" / "losses.csv", out / "tiny_losses.csv")
            plot_curves(out / "tiny_losses.csv", ["loss_g", "loss_d", "id", "rec"], out / "tiny_loss.png", "tiny swapper")
            print(f"tiny: {fig['tiny']}", flush=True)
            save()
    print(markdown(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
