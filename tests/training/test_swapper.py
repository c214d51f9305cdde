"""Swapper training on real face crops with the real MobileFaceNet as the frozen recognizer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from faceplate.core.errors import FaceplateError
from faceplate.training.config import config_from_dict
from faceplate.training.swapper_train import train_swapper
from tests.training.facecrops import TINY_SWAPPER, face_dataset, mobilefacenet  # noqa: F401  (fixtures)

pytestmark = pytest.mark.assets


def _cfg(dataset, out, recognizer, **over):
    return config_from_dict("swapper", {**TINY_SWAPPER, "dataset": str(dataset), "out_dir": str(out),
                                        "recognizer": str(recognizer), **over})


def test_losses_fall_on_a_fixed_batch(face_dataset, mobilefacenet, tmp_path):
    result = train_swapper(_cfg(face_dataset, tmp_path / "run", mobilefacenet, overfit_batches=1, steps=15,
                                batch_size=4, input_size=64, same_identity_fraction=0.5, lambda_gp=0.1,
                                image_every=5), progress=False)
    h = result.history
    assert len(h) == 15
    first = {k: np.mean([x[k] for x in h[:3]]) for k in ("id", "rec", "loss_g")}
    last = {k: np.mean([x[k] for x in h[-3:]]) for k in ("id", "rec", "loss_g")}
    assert last["id"] < 0.8 * first["id"], (first, last)       # identity moves towards the source
    assert last["rec"] < first["rec"], (first, last)
    assert last["loss_g"] < first["loss_g"], (first, last)
    assert all(np.isfinite(x["loss_d"]) and np.isfinite(x["gp"]) for x in h)
    assert set(result.metrics) == {"eval_id_cos_swap_source", "eval_id_cos_target_source", "eval_id_cos_swap_target",
                                  "eval_rec_l1"}
    # image grids went to TensorBoard
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / "run" / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert "swapper/target_source_swap" in events.Tags()["images"]


def test_resume_gives_the_same_next_step_losses(face_dataset, mobilefacenet, tmp_path):
    over = dict(steps=6, checkpoint_every=3, augment=True, lambda_gp=0.1)
    full = train_swapper(_cfg(face_dataset, tmp_path / "a", mobilefacenet, **over), progress=False)
    train_swapper(_cfg(face_dataset, tmp_path / "b", mobilefacenet, **over), progress=False, stop_after=3)
    resumed = train_swapper(_cfg(face_dataset, tmp_path / "b", mobilefacenet, resume="auto", **over), progress=False)
    assert resumed.first_step == 3
    for key in ("loss_g", "loss_d", "id", "rec"):
        assert [x[key] for x in resumed.history] == [x[key] for x in full.history[3:]], key
    # With worker threads the next batch is drawn (prefetched) before a checkpoint is written: the
    # checkpoint must hold the sampler state from before it, so the run and its resume stay the same.
    over["data_workers"] = 2
    threaded = train_swapper(_cfg(face_dataset, tmp_path / "c", mobilefacenet, **over), progress=False)
    train_swapper(_cfg(face_dataset, tmp_path / "d", mobilefacenet, **over), progress=False, stop_after=3)
    resumed = train_swapper(_cfg(face_dataset, tmp_path / "d", mobilefacenet, resume="auto", **over), progress=False)
    for key in ("loss_g", "loss_d", "id", "rec"):
        assert [x[key] for x in threaded.history] == [x[key] for x in full.history], key
        assert [x[key] for x in resumed.history] == [x[key] for x in full.history[3:]], key


def test_identity_checkpoint_as_recognizer_and_incompatible_resume(face_dataset, mobilefacenet, tmp_path):
    from faceplate.training.identity_train import train_identity
    from tests.training.facecrops import TINY_IDENTITY

    ident = train_identity(config_from_dict("identity", {**TINY_IDENTITY, "steps": 2, "dataset": str(face_dataset),
                                                         "out_dir": str(tmp_path / "id")}), progress=False)
    result = train_swapper(_cfg(face_dataset, tmp_path / "run", ident.checkpoint, steps=2), progress=False)
    assert len(result.history) == 2
    with pytest.raises(FaceplateError, match="incompatible checkpoint.*recognizer"):
        train_swapper(_cfg(face_dataset, tmp_path / "run", mobilefacenet, steps=4, resume="auto"), progress=False)
    with pytest.raises(FaceplateError, match="incompatible checkpoint: base_channels"):
        train_swapper(_cfg(face_dataset, tmp_path / "run", ident.checkpoint, steps=4, base_channels=16,
                           resume="auto"), progress=False)
    with pytest.raises(FaceplateError, match="identity checkpoint"):
        train_swapper(_cfg(face_dataset, tmp_path / "x", result.checkpoint, steps=2), progress=False)


def test_generator_shapes_for_the_shipped_sizes():
    from faceplate.training.swapper_model import Generator, MultiScaleDiscriminator

    for size, down in ((224, 3), (256, 3), (512, 4)):
        g = Generator(128, base=4, down_layers=down, id_blocks=1)
        with torch.no_grad():
            out = g(torch.rand(1, 3, size, size), torch.nn.functional.normalize(torch.randn(1, 128), dim=1))
        assert out.shape == (1, 3, size, size) and 0 <= float(out.min()) and float(out.max()) <= 1
    d = MultiScaleDiscriminator(4, 3, 2)(torch.rand(1, 3, 64, 64))
    assert len(d) == 2 and d[0][-1].shape[1] == 1
