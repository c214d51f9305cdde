"""Picture of a trained swapper: rows of target | source | swap | target's own reconstruction, on
held-out crops, plus the recognizer's cosine of each swap to its source and to its target.

    python bench/train_swap_grid.py CKPT DATASET RECOGNIZER.onnx -o grid.png [--n 6]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("dataset")
    ap.add_argument("recognizer")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--n", type=int, default=6)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from faceplate.core.filesystem import atomic_path
    from faceplate.onnx_export.export import build_from_checkpoint
    from faceplate.training import data as data_mod
    from faceplate.training.swapper_model import load_recognizer

    G, kind, cfg, _ = build_from_checkpoint(args.checkpoint)
    rec = load_recognizer(args.recognizer, cfg.alignment, cfg.input_size)
    index = data_mod.scan_dataset(args.dataset)
    _, val = data_mod.split_index(index, cfg.val_fraction, cfg.seed)
    store = data_mod.ImageStore(cfg.input_size * 2)
    # one crop per identity first, so sources and targets are different people
    picks, seen = [], set()
    for path, label in val.items + index.items:
        if label not in seen:
            picks.append(path)
            seen.add(label)
    picks = picks[:args.n]
    crops = torch.from_numpy(np.stack([data_mod.warp_crop(store.get(p), cfg.alignment, cfg.input_size, None, None)
                                       for p in picks]))
    perm = torch.roll(torch.arange(len(picks)), 1)
    with torch.no_grad():
        src_id = rec(crops[perm])
        swap = G(crops, src_id)
        recon = G(crops, rec(crops))
        cos_src = (rec(swap) * src_id).sum(1)
        cos_tgt = (rec(swap) * rec(crops)).sum(1)
    rows = []
    for i in range(len(picks)):
        tiles = [crops[i], crops[perm[i]], swap[i], recon[i]]
        row = np.concatenate([(t.permute(1, 2, 0).numpy() * 255).clip(0, 255).astype(np.uint8) for t in tiles], 1)
        row = cv2.cvtColor(row, cv2.COLOR_RGB2BGR)
        cv2.putText(row, f"cos(swap,src) {cos_src[i]:.2f}  cos(swap,tgt) {cos_tgt[i]:.2f}", (4, 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
        rows.append(row)
    with atomic_path(args.output) as tmp:
        cv2.imwrite(str(tmp), np.concatenate(rows, 0))
    print(f"{args.output}: columns target | source | swap | reconstruction; "
          f"mean cos(swap, source) {float(cos_src.mean()):.3f}, cos(swap, target) {float(cos_tgt.mean()):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
