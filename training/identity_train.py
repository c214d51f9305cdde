"""Identity encoder training: margin-softmax (ArcFace/CosFace) over the dataset's identity folders,
with verification accuracy on held-out images reported at the end.

    from faceplate.training.identity_train import train_identity
    result = train_identity(load_config("identity.yaml", "identity"))
"""
from __future__ import annotations

import logging
import math
from typing import Any, Optional

import numpy as np
from torch import nn

from faceplate.core.errors import FaceplateError

from . import data as data_mod
from .config import IdentityConfig
from .trainer import Distributed, TrainResult, batch_workers, pick_device, run, seed_everything, setup_distributed

log = logging.getLogger("faceplate.training")


def lr_at(cfg: Any, step: int) -> float:
    """Linear warm-up over the first 5 % of steps, then cosine decay to 1 % (a pure function of step: exact resume)."""
    warm = max(1, int(cfg.steps * 0.05))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


class IdentityJob:
    def __init__(self, cfg: IdentityConfig, dist_info: Distributed):
        import torch

        from .identity_model import IdentityEncoder, MarginHead, build_backbone

        self.cfg, self.dist = cfg, dist_info
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        self.device = pick_device(cfg, dist_info)
        index = data_mod.scan_dataset(cfg.dataset, min_classes=2, max_per_class=cfg.max_images_per_class)
        self.train_index, self.val_index = data_mod.split_index(index, cfg.val_fraction, cfg.seed)
        self.store = data_mod.ImageStore(work_size=max(2 * cfg.input_size, 128))
        self.sampler = data_mod.Sampler(self.train_index, self.store, cfg.seed, dist_info.rank,
                                        data_mod.Augment() if cfg.augment else None,
                                        batch_workers(cfg, self.device))
        self.encoder = IdentityEncoder(build_backbone(cfg.backbone, cfg.embedding_dim, cfg.input_size, cfg.width))
        self.head = MarginHead(cfg.embedding_dim, len(index.classes), cfg.loss, cfg.margin, cfg.scale)
        self.encoder.to(self.device)
        self.head.to(self.device)
        self.models = {"encoder": self.encoder, "head": self.head}
        params = list(self.encoder.parameters()) + list(self.head.parameters())
        if cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            raise FaceplateError(f"config optimizer {cfg.optimizer!r} unknown; use sgd or adamw")
        self.optimizers = {"opt": self.opt}
        self.step_module = LossModule(self.encoder.backbone, self.head)
        self.step_run = self.step_module
        if dist_info.world_size > 1:  # one DDP module over backbone + margin head: both gradients all-reduced
            from torch.nn.parallel import DistributedDataParallel as DDP
            self.step_run = DDP(self.step_module, device_ids=[dist_info.local_rank] if self.device.type == "cuda" else None)
        self._fixed: list[tuple[np.ndarray, np.ndarray]] = []
        self.num_classes = len(index.classes)
        log.info("identity: %d classes, %d training / %d held-out crops", len(index.classes),
                 len(self.train_index.items), len(self.val_index.items))

    def _batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.cfg
        if cfg.overfit_batches > 0:
            while len(self._fixed) < cfg.overfit_batches:
                self._fixed.append(self.sampler.identity_batch(cfg.batch_size, cfg.input_size))
            return self._fixed[step % cfg.overfit_batches]
        return self.sampler.identity_batch(cfg.batch_size, cfg.input_size)

    def train_step(self, step: int) -> dict[str, float]:
        import torch

        images, labels = self._batch(step)
        x = torch.from_numpy(images).to(self.device)
        y = torch.from_numpy(labels).to(self.device)
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.cfg, step)
        self.encoder.train()
        self.head.train()
        use_amp = self.cfg.amp and self.device.type == "cuda"
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss, emb = self.step_run(x, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(self.encoder.parameters()) + list(self.head.parameters()), 5.0)
        self.opt.step()
        if self.cfg.overfit_batches <= 0:   # warp the next batch while the GPU runs this one (swapper_train)
            self.sampler.prefetch_identity_batch(self.cfg.batch_size, self.cfg.input_size)
        with torch.no_grad():
            acc = (self.head.logits(emb.float(), y).argmax(1) == y).float().mean()
        return {"loss": float(loss.detach()), "train_acc": float(acc), "lr": self.opt.param_groups[0]["lr"]}

    def image_grids(self, step: int) -> dict[str, Any]:
        return {}

    def extra_state(self) -> dict[str, Any]:
        return {"classes": self.train_index.classes}

    def load_extra_state(self, extra: dict[str, Any]) -> None:
        classes = extra.get("classes")
        if classes is not None and list(classes) != list(self.train_index.classes):
            raise FaceplateError(f"{self.cfg.dataset}: incompatible checkpoint: it was trained on {len(classes)} "
                                 f"identity folders, the dataset now has {len(self.train_index.classes)}; "
                                 f"resume on the same dataset or start a new out_dir")

    def embed(self, index: data_mod.DatasetIndex, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Unit embeddings (M, D) of the readable items and their item indices (M,)."""
        import torch

        self.encoder.eval()
        vectors, kept = [], []
        for start in range(0, len(index.items), batch):
            crops, ids = [], []
            for i in range(start, min(start + batch, len(index.items))):
                image = self.store.get(index.items[i][0])
                if image is not None:
                    crops.append(data_mod.warp_crop(image, "arcface112", self.cfg.input_size, None, None))
                    ids.append(i)
            if crops:
                with torch.no_grad():
                    vectors.append(self.encoder(torch.from_numpy(np.stack(crops)).to(self.device)).cpu().numpy())
                kept += ids
        if not vectors:
            return np.zeros((0, self.cfg.embedding_dim), np.float32), np.zeros((0,), np.int64)
        return np.concatenate(vectors), np.asarray(kept)

    def evaluate(self) -> dict[str, float]:
        """Verification on held-out crops: balanced same/different pairs, 10-fold threshold accuracy."""
        return verification(self, self.val_index if self.val_index.items else self.train_index, self.cfg.seed)


class LossModule(nn.Module):
    """Backbone + margin head as one module (what DDP wraps); returns (loss, embeddings)."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x, y):
        emb = self.backbone(x).float()
        return self.head(emb, y), emb


def verification(job: IdentityJob, index: data_mod.DatasetIndex, seed: int, max_pairs: int = 2000) -> dict[str, float]:
    vectors, kept = job.embed(index)
    row = {int(item): r for r, item in enumerate(kept)}
    pairs = [(a, b, s) for a, b, s in data_mod.verification_pairs(index, max_pairs, seed) if a in row and b in row]
    if len(pairs) < 2:
        return {"verification_pairs": float(len(pairs))}
    sims = np.array([float(vectors[row[a]] @ vectors[row[b]]) for a, b, _ in pairs])
    same = np.array([s for _, _, s in pairs])
    acc, threshold = data_mod.verification_accuracy(sims, same)
    return {"verification_accuracy": acc, "verification_threshold": threshold,
            "verification_pairs": float(len(pairs)), "same_mean_cos": float(sims[same].mean()) if same.any() else float("nan"),
            "diff_mean_cos": float(sims[~same].mean()) if (~same).any() else float("nan")}


def train_identity(cfg: IdentityConfig, progress: bool = True, stop_after: Optional[int] = None) -> TrainResult:
    dist_info = setup_distributed()
    job = IdentityJob(cfg, dist_info)
    result = run(job, dist_info, progress=progress, stop_after=stop_after)
    if result.metrics:
        log.info("identity verification: %s", " ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()))
    return result
