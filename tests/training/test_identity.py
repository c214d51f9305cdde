"""Identity encoder training on real face crops: losses fall, resume is exact, bad input is refused."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from faceplate.core.errors import FaceplateError
from faceplate.training.config import config_from_dict
from faceplate.training.identity_train import IdentityJob, train_identity
from faceplate.training.trainer import run, setup_distributed
from tests.training.facecrops import TINY_IDENTITY, face_dataset  # noqa: F401  (fixture)



def _cfg(dataset, out, **over):
    return config_from_dict("identity", {**TINY_IDENTITY, "dataset": str(dataset), "out_dir": str(out), **over})


def test_loss_falls_on_a_fixed_batch_of_real_faces(face_dataset, tmp_path):
    result = train_identity(_cfg(face_dataset, tmp_path / "run", overfit_batches=1), progress=False)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < 0.3 * losses[0], losses
    assert result.history[-1]["train_acc"] == 1.0
    assert "verification_accuracy" in result.metrics and 0.0 <= result.metrics["verification_accuracy"] <= 1.0
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("*.safetensors"))
    assert [c.name for c in ckpts] == ["step_00000006.safetensors", "step_00000012.safetensors"]
    assert (tmp_path / "run" / "losses.csv").read_text().count("\n") == 13
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_resume_gives_the_same_next_step_loss_as_an_uninterrupted_run(face_dataset, tmp_path):
    full = train_identity(_cfg(face_dataset, tmp_path / "a", steps=8, checkpoint_every=4, augment=True), progress=False)
    first = train_identity(_cfg(face_dataset, tmp_path / "b", steps=8, checkpoint_every=4, augment=True),
                           progress=False, stop_after=4)
    assert first.last_step == 4
    resumed = train_identity(_cfg(face_dataset, tmp_path / "b", steps=8, checkpoint_every=4, augment=True,
                                  resume="auto"), progress=False)
    assert resumed.first_step == 4
    expected = [h["loss"] for h in full.history[4:]]
    assert [h["loss"] for h in resumed.history] == expected   # bit-identical, not approximately
    assert [h["loss"] for h in first.history] == [h["loss"] for h in full.history[:4]]
    # worker threads (the next batch prefetched before each checkpoint): the same run, and resumable
    threaded = train_identity(_cfg(face_dataset, tmp_path / "c", steps=8, checkpoint_every=4, augment=True,
                                   data_workers=2), progress=False)
    assert [h["loss"] for h in threaded.history] == [h["loss"] for h in full.history]
    train_identity(_cfg(face_dataset, tmp_path / "d", steps=8, checkpoint_every=4, augment=True, data_workers=2),
                   progress=False, stop_after=4)
    resumed = train_identity(_cfg(face_dataset, tmp_path / "d", steps=8, checkpoint_every=4, augment=True,
                                  data_workers=2, resume="auto"), progress=False)
    assert [h["loss"] for h in resumed.history] == expected


def test_existing_run_is_not_overwritten_without_resume(face_dataset, tmp_path):
    train_identity(_cfg(face_dataset, tmp_path / "run", steps=2, checkpoint_every=2), progress=False)
    ckpt = tmp_path / "run" / "checkpoints" / "step_00000002.safetensors"
    before = ckpt.read_bytes()
    with pytest.raises(FaceplateError, match="resume: auto"):
        train_identity(_cfg(face_dataset, tmp_path / "run", steps=2), progress=False)
    assert ckpt.read_bytes() == before


def test_incompatible_checkpoint_is_refused(face_dataset, tmp_path):
    train_identity(_cfg(face_dataset, tmp_path / "run", steps=2, checkpoint_every=2), progress=False)
    with pytest.raises(FaceplateError, match="incompatible checkpoint: width"):
        train_identity(_cfg(face_dataset, tmp_path / "run", steps=4, width=0.5, resume="auto"), progress=False)
    with pytest.raises(FaceplateError, match="not a readable safetensors"):
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"garbage")
        train_identity(_cfg(face_dataset, tmp_path / "other", steps=4, resume=str(bad)), progress=False)


def test_empty_and_single_identity_datasets_are_refused(face_dataset, tmp_path):
    (tmp_path / "empty" / "g" / "0").mkdir(parents=True)
    with pytest.raises(FaceplateError, match="dataset is empty"):
        train_identity(_cfg(tmp_path / "empty", tmp_path / "o1"), progress=False)
    single = tmp_path / "single" / "photos" / "astronaut"
    shutil.copytree(face_dataset / "photos" / "astronaut", single)
    with pytest.raises(FaceplateError, match="1 identity folder"):
        train_identity(_cfg(tmp_path / "single", tmp_path / "o2"), progress=False)
    (tmp_path / "built" / "clip" / "unsorted").mkdir(parents=True)
    shutil.copy(face_dataset / "photos" / "astronaut" / "0000.png", tmp_path / "built" / "clip" / "unsorted")
    (tmp_path / "built" / "report").mkdir()
    with pytest.raises(FaceplateError, match="faceplate dataset cluster"):
        train_identity(_cfg(tmp_path / "built", tmp_path / "o4"), progress=False)
    with pytest.raises(FaceplateError, match="dataset folder not found"):
        train_identity(_cfg(tmp_path / "nowhere", tmp_path / "o3"), progress=False)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_corrupt_images_are_skipped_and_counted(face_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(face_dataset, data)
    (data / "photos" / "astronaut" / "9998.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (data / "photos" / "schwimmer" / "9999.png").write_bytes(b"")
    result = train_identity(_cfg(data, tmp_path / "run", steps=6, batch_size=16, val_fraction=0.0), progress=False)
    assert result.corrupt_images == 2
    assert len(result.history) == 6


def test_nan_loss_stops_with_the_step_and_last_good_checkpoint(face_dataset, tmp_path, monkeypatch):
    cfg = _cfg(face_dataset, tmp_path / "run", steps=8, checkpoint_every=2)
    job = IdentityJob(cfg, setup_distributed())
    real_step = job.train_step

    def poisoned(step):
        out = real_step(step)
        if step == 4:  # the 5th step
            out["loss"] = float("nan")
        return out

    monkeypatch.setattr(job, "train_step", poisoned)
    with pytest.raises(FaceplateError) as err:
        run(job, setup_distributed(), progress=False)
    message = str(err.value)
    assert "at step 5" in message and "step_00000004.safetensors" in message
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == \
        ["step_00000002.safetensors", "step_00000004.safetensors"]


def test_cosface_and_iresnet_train(face_dataset, tmp_path):
    result = train_identity(_cfg(face_dataset, tmp_path / "run", steps=3, loss="cosface", margin=0.35,
                                 backbone="iresnet", optimizer="adamw", lr=1e-3), progress=False)
    assert all(np.isfinite(h["loss"]) for h in result.history)


@pytest.mark.assets
def test_trains_on_the_dataset_builders_output(asset, tmp_path):
    """Crops made by `faceplate dataset build` + `cluster` (the real producer of DATASET/<group>/<k>/)."""
    from faceplate.core.cli.__init__ import main

    clip = asset("media/video/clip_01_tears_of_steel.mp4")
    data = tmp_path / "dataset"
    assert main(["dataset", "build", str(clip), "-o", str(data), "--size", "224", "--every", "8", "--workers", "1"]) == 0
    assert main(["dataset", "cluster", str(data), "--auto"]) == 0
    result = train_identity(_cfg(data, tmp_path / "run", steps=3, val_fraction=0.0), progress=False)
    assert len(result.history) == 3 and all(np.isfinite(h["loss"]) for h in result.history)
    assert result.corrupt_images == 0
