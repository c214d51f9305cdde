"""The training loop shared by identity and swapper training: resume, progress/ETA, logging,
checkpoints, NaN guard and torchrun (DDP) set-up.

A job (identity_train.IdentityJob, swapper_train.SwapperJob) owns its models, optimizers and sampler
and implements ``train_step(step) -> {name: float}``; this module owns everything around it.
Only rank 0 writes files. Files: ``out_dir/checkpoints/step_XXXXXXXX.safetensors``,
``out_dir/losses.csv`` (step + every scalar), ``out_dir/tb/`` (TensorBoard).
"""
from __future__ import annotations

import csv
import io
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np

from faceplate.core.errors import FaceplateError
from faceplate.core.filesystem import atomic_write_text

from . import checkpoint as ckpt_mod
from .config import ARCHITECTURE_KEYS, AnyConfig, config_kind, config_to_json

log = logging.getLogger("faceplate.training")


class Job(Protocol):
    cfg: AnyConfig
    models: dict                # name -> nn.Module (unwrapped)
    optimizers: dict            # name -> torch.optim.Optimizer
    sampler: Any                # data.Sampler

    def train_step(self, step: int) -> dict[str, float]: ...
    def image_grids(self, step: int) -> dict[str, Any]: ...     # name -> (3,H,W) float tensor 0..1
    def evaluate(self) -> dict[str, float]: ...
    def extra_state(self) -> dict[str, Any]: ...
    def load_extra_state(self, extra: dict[str, Any]) -> None: ...


@dataclass
class Distributed:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Distributed:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; without them this is a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    import torch
    import torch.distributed as dist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return Distributed(world, dist.get_rank(), local)


def pick_device(cfg: AnyConfig, dist_info: Distributed):
    import torch

    if cfg.device == "cpu" or (cfg.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise FaceplateError("config device: cuda requested but no CUDA device is visible; use device: auto")
    return torch.device("cuda", dist_info.local_rank)


def batch_workers(cfg: AnyConfig, device) -> int:
    """Threads that warp each batch: the config's, else 1 on the CPU (torch has the cores) and, beside a
    GPU, min(8, this process's share of the cores) (processes on one node split them)."""
    if cfg.data_workers < 0:
        raise FaceplateError(f"config data_workers: {cfg.data_workers}; use 0 (automatic) or a number of threads")
    if cfg.data_workers > 0:
        return cfg.data_workers
    if device.type != "cuda":
        return 1
    per_node = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(8, (os.cpu_count() or 1) // per_node))


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    out_dir: str
    first_step: int
    last_step: int
    history: list[dict[str, float]] = field(default_factory=list)   # every step's scalars (with "step")
    checkpoint: Optional[str] = None
    metrics: dict[str, float] = field(default_factory=dict)
    corrupt_images: int = 0
    seconds: float = 0.0


def resolve_resume(cfg: AnyConfig) -> Optional[Path]:
    out_dir = Path(cfg.out_dir)
    existing = ckpt_mod.latest_checkpoint(out_dir)
    if not cfg.resume:
        if existing is not None:
            raise FaceplateError(f"{out_dir}: already holds checkpoints (latest {existing.name}); set `resume: auto` "
                                 f"to continue that run or choose a new out_dir (nothing was overwritten)")
        return None
    if cfg.resume == "auto":
        return existing
    return Path(cfg.resume)


def run(job: Job, dist_info: Distributed, progress: bool = True, stop_after: Optional[int] = None) -> TrainResult:
    """Train ``job`` from its resume point to ``cfg.steps`` (or ``stop_after`` more steps, for tests)."""
    import torch

    cfg = job.cfg
    kind = config_kind(cfg)
    cfg_json = config_to_json(cfg)
    out_dir = Path(cfg.out_dir)
    start = 0
    last_good: Optional[str] = None
    resume_path = resolve_resume(cfg)
    if resume_path is not None:
        ckpt = ckpt_mod.load_checkpoint(resume_path)
        ckpt_mod.check_compatible(ckpt, kind, cfg_json, ARCHITECTURE_KEYS[kind])
        job.load_extra_state(ckpt.extra)   # dataset classes / recognizer identity, checked before any weights
        for name, model in job.models.items():
            if name not in ckpt.models:
                raise FaceplateError(f"{resume_path}: incompatible checkpoint: no weights for {name!r}; start a new out_dir")
            try:
                model.load_state_dict(ckpt.models[name], strict=True)
            except RuntimeError as exc:
                lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
                first = lines[1] if len(lines) > 1 else lines[0]
                raise FaceplateError(f"{resume_path}: incompatible checkpoint for {name!r} ({first}); "
                                     f"use the config it was trained with or a new out_dir") from exc
        for name, optimizer in job.optimizers.items():
            optimizer.load_state_dict(ckpt.optimizers[name])
        _restore_random_state(job, ckpt, dist_info)
        start = ckpt.step
        last_good = str(resume_path)
        log.info("resumed from %s at step %d", resume_path, start)
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    if dist_info.world_size > 1:
        log.info("rank %d of world size %d (DDP); only rank 0 writes files", dist_info.rank, dist_info.world_size)

    writer = None
    history: list[dict[str, float]] = []
    csv_path = out_dir / "losses.csv"
    previous_rows = _read_csv(csv_path, upto=start) if dist_info.is_main else []
    if dist_info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out_dir / "tb"), purge_step=start if start else None)
        except Exception as exc:  # tensorboard missing: CSV still has every scalar
            log.warning("TensorBoard logging off (%s); losses still go to %s", exc, csv_path)

    from tqdm import tqdm
    bar = tqdm(total=end - start, desc=f"train {kind}", unit="step", file=sys.stderr,
               disable=None if progress else True, dynamic_ncols=True)
    t0 = time.monotonic()
    last_line = t0
    try:
        for step in range(start, end):
            scalars = job.train_step(step)
            bad = [k for k, v in scalars.items() if not math.isfinite(v)]
            if bad:
                raise FaceplateError(
                    f"{out_dir}: {bad[0]} = {scalars[bad[0]]} (not finite) at step {step + 1}; training stopped, "
                    f"last good checkpoint: {last_good or 'none (no checkpoint written yet)'}; lower lr or "
                    f"check the data, then resume from it")
            done = step + 1
            scalars = {k: float(v) for k, v in scalars.items()}
            history.append({"step": done, **scalars})
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in list(scalars.items())[:4]}, refresh=False)
            if dist_info.is_main and (done % cfg.log_every == 0 or done == end):
                if writer is not None:
                    for k, v in scalars.items():
                        writer.add_scalar(f"{kind}/{k}", v, done)
                _write_csv(csv_path, previous_rows + history)
                now = time.monotonic()
                if bar.disable and now - last_line > 5:  # farm logs: a line with ETA instead of a bar
                    rate = (done - start) / max(now - t0, 1e-9)
                    eta = (end - done) / max(rate, 1e-9)
                    log.info("step %d/%d %s  %.2f step/s  ETA %s", done, end,
                             " ".join(f"{k}={v:.4f}" for k, v in scalars.items()), rate, _hms(eta))
                    last_line = now
            if dist_info.is_main and writer is not None and cfg.image_every > 0 and done % cfg.image_every == 0:
                for name, grid in job.image_grids(step).items():
                    writer.add_image(f"{kind}/{name}", grid, done)
            if done % cfg.checkpoint_every == 0 or done == end:
                ranks = _gather_rank_states(job, dist_info)     # a collective: every rank takes part
                if dist_info.is_main:
                    path = ckpt_mod.save_checkpoint(ckpt_mod.checkpoint_path(out_dir, done), kind, done, cfg_json,
                                                    job.models, job.optimizers, job.sampler.state(),
                                                    job.extra_state(), rank_states=ranks)
                    last_good = str(path)
                    ckpt_mod.prune_checkpoints(out_dir, cfg.keep_checkpoints)
    finally:
        bar.close()
    metrics = job.evaluate() if dist_info.is_main else {}
    if writer is not None:
        for k, v in metrics.items():
            writer.add_scalar(f"{kind}/eval_{k}", v, end)
        writer.close()
    corrupt = len(job.sampler.store.corrupt)
    if corrupt:
        log.warning("%d corrupt or unreadable images were skipped", corrupt)
    return TrainResult(out_dir=str(out_dir), first_step=start, last_step=end, history=history, checkpoint=last_good,
                       metrics=metrics, corrupt_images=corrupt, seconds=time.monotonic() - t0)


def _gather_rank_states(job: Job, dist_info: Distributed) -> Optional[list[dict[str, Any]]]:
    """Every rank's random state (sampler, Python, NumPy, torch), in rank order; None in one process."""
    if dist_info.world_size <= 1:
        return None
    import torch.distributed as dist

    states: list[Any] = [None] * dist_info.world_size
    dist.all_gather_object(states, ckpt_mod.rank_state(job.sampler.state()))
    return states


def _restore_random_state(job: Job, ckpt: Any, dist_info: Distributed) -> None:
    """Each rank resumes its own saved random state. A checkpoint from another number of processes
    (or one without per-rank states) gives every rank rank 0's global RNG state, rank 0 alone its
    sampler (the others keep their own seeded one), and a warning that the resume is not exact."""
    ranks = ckpt.rng.get("ranks") or []
    if len(ranks) == dist_info.world_size and dist_info.world_size > 1:
        sampler = ckpt_mod.restore_rank_state(ranks[dist_info.rank])
    else:
        if max(len(ranks), 1) != dist_info.world_size and dist_info.is_main:
            log.warning("%s was saved by %d process(es), this run has %d: batches after the resume differ from an "
                        "uninterrupted run", ckpt.path, max(len(ranks), 1), dist_info.world_size)
        ckpt_mod.restore_rng(ckpt.rng, ckpt.rng.get("torch"))
        sampler = ckpt.rng.get("sampler")
        if sampler is not None and dist_info.rank > 0:
            # Not rank 0's own draws on every rank (they would all train on the same batches).
            sampler = None
    if sampler is not None:
        job.sampler.set_state(sampler)


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _read_csv(path: Path, upto: int) -> list[dict[str, float]]:
    if not path.is_file() or upto <= 0:
        return []
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)
                if float(row["step"]) <= upto]


def _write_csv(path: Path, rows: list[dict[str, float]]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (int(v) if k == "step" else f"{v:.6g}") for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())
