"""`faceplate train identity --config` from the command line, single process and under torchrun (DDP, gloo)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from faceplate.core.cli.__init__ import main
from tests.training.facecrops import face_dataset  # noqa: F401  (fixture)


CONFIG = """dataset: {dataset}
out_dir: {out}
steps: 3
batch_size: 4
width: 0.25
embedding_dim: 32
log_every: 1
checkpoint_every: 3
threads: 1
"""


def test_train_cli_runs_and_reports_the_checkpoint(face_dataset, tmp_path, capsys):
    cfg = tmp_path / "id.yaml"
    cfg.write_text(CONFIG.format(dataset=face_dataset, out=tmp_path / "run"))
    assert main(["train", "identity", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.strip().endswith("step_00000003.safetensors")
    assert main(["train", "identity", "--config", str(cfg), "--resume", "auto", "--steps", "4"]) == 0
    assert (tmp_path / "run" / "checkpoints" / "step_00000004.safetensors").is_file()
    cfg.write_text(CONFIG.format(dataset=face_dataset, out=tmp_path / "run2") + "embeding_dim: 64\n")
    assert main(["train", "identity", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'embeding_dim'; did you mean 'embedding_dim'?" in err
    assert not (tmp_path / "run2").exists()


def test_torchrun_two_processes_on_cpu(face_dataset, tmp_path):
    cfg = tmp_path / "id.yaml"
    cfg.write_text(CONFIG.format(dataset=face_dataset, out=tmp_path / "run").replace("steps: 3", "steps: 2")
                   .replace("checkpoint_every: 3", "checkpoint_every: 2"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "faceplate.core.cli", "train", "identity", "--config", str(cfg)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "world size 2" in done.stderr
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step_00000002.safetensors"]
