"""Identity classes read from a dataset folder: per <group>/<k>, or per k after --merge-groups."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from faceplate.core.errors import FaceplateError

from faceplate.training.data import scan_dataset
from tests.training.facecrops import face_dataset  # noqa: F401  (fixture)


def _dataset(root, merged: bool):
    for group in ("clip_a", "clip_b"):
        for k in ("0", "1"):
            folder = root / group / k
            folder.mkdir(parents=True)
            for i in range(2):
                cv2.imwrite(str(folder / f"{group}_{k}_{i}.png"), np.full((32, 32, 3), 40 * i, np.uint8))
    (root / "dataset.json").write_text(json.dumps({"clusters": {"classes": 2, "merge_groups": merged}}))
    return root


def test_each_group_folder_is_its_own_identity_by_default(tmp_path):
    index = scan_dataset(_dataset(tmp_path, merged=False))
    assert index.classes == ["clip_a/0", "clip_a/1", "clip_b/0", "clip_b/1"]
    assert [len(items) for items in index.per_class] == [2, 2, 2, 2]


def test_merged_clusters_are_one_identity_across_groups(tmp_path):
    index = scan_dataset(_dataset(tmp_path, merged=True))
    assert index.classes == ["*/0", "*/1"]
    labels = {path.split("/")[-1]: label for path, label in index.items}
    assert labels["clip_a_0_0.png"] == labels["clip_b_0_1.png"] != labels["clip_a_1_0.png"]
    assert [len(items) for items in index.per_class] == [4, 4]


def test_batches_warped_on_several_threads_equal_the_one_thread_batches(face_dataset):
    """Worker threads only warp: every random number is drawn first, in one order, so the batches and
    the generator state (what a checkpoint saves) are the same with any number of workers."""
    from faceplate.training.data import Augment, ImageStore, Sampler

    index = scan_dataset(face_dataset)
    results = []
    for workers in (1, 3):
        sampler = Sampler(index, ImageStore(work_size=96), seed=5, augment=Augment(), workers=workers)
        batches = [sampler.swap_batch(6, 64, "arcface112", 0.5), sampler.identity_batch(6, 48)]
        results.append((batches, sampler.state()))
    (one, state_one), (three, state_three) = results
    for a, b in zip(one, three):
        for x, y in zip(a, b):
            assert np.array_equal(x, y)
    assert state_one == state_three
    targets, sources, same = one[0]
    assert targets.flags.c_contiguous and sources.flags.c_contiguous
    assert not np.array_equal(targets, sources)


def test_batch_workers_follow_the_config_then_the_device(monkeypatch):
    from types import SimpleNamespace

    from faceplate.training.config import config_from_dict
    from faceplate.training.trainer import batch_workers

    cpu, gpu = SimpleNamespace(type="cpu"), SimpleNamespace(type="cuda")
    cfg = config_from_dict("swapper", {})
    assert batch_workers(cfg, cpu) == 1
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert batch_workers(cfg, gpu) == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert batch_workers(cfg, gpu) == 4
    cfg.data_workers = 3
    assert batch_workers(cfg, cpu) == 3
    cfg.data_workers = -1
    with pytest.raises(FaceplateError, match="data_workers"):
        batch_workers(cfg, gpu)
