"""Multi-process resume is exact: under torchrun (2 CPU processes, gloo) a run stopped after 3 steps
and resumed ends with the same weights, bit for bit, as an uninterrupted run.

Each rank draws its own batches (augmentation on), so this fails if a checkpoint keeps only rank
0's sampler/RNG state: after the resume rank 1 would replay rank 0's draws."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.training.facecrops import face_dataset  # noqa: F401  (fixture)


CONFIG = """dataset: {dataset}
out_dir: {out}
steps: 5
batch_size: 4
width: 0.25
embedding_dim: 32
augment: true
log_every: 1
checkpoint_every: 100
image_every: 0
threads: 1
"""


def _torchrun(cfg, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "faceplate.core.cli", "train", "identity", "--config", str(cfg), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_torchrun_resume_matches_an_uninterrupted_run_bit_for_bit(face_dataset, tmp_path):
    import torch

    from faceplate.training.checkpoint import load_checkpoint

    runs = {}
    for name in ("whole", "split"):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(CONFIG.format(dataset=face_dataset, out=tmp_path / name))
        runs[name] = cfg
    _torchrun(runs["whole"])
    _torchrun(runs["split"], "--stop-after", "3")
    stopped = load_checkpoint(tmp_path / "split" / "checkpoints" / "step_00000003.safetensors")
    ranks = stopped.rng["ranks"]
    assert len(ranks) == 2 and ranks[0]["sampler"] != ranks[1]["sampler"]
    log = _torchrun(runs["split"], "--resume", "auto")
    assert "resumed from" in log and "step 3" in log
    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "step_00000005.safetensors")
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "step_00000005.safetensors")
    for model, tensors in whole.models.items():
        assert tensors.keys() == split.models[model].keys()
        for key, value in tensors.items():
            assert torch.equal(value, split.models[model][key]), f"{model}.{key} differs after the resume"
    assert whole.rng["ranks"] == split.rng["ranks"]      # and every rank's random state carries on identically
