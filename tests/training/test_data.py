"""Identity classes read from a dataset folder: per <group>/<k>, or per k after --merge-groups."""
from __future__ import annotations

import json

import cv2
import numpy as np

from faceplate.training.data import scan_dataset


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
