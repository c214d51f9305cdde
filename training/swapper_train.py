"""SimSwap-style swapper training: generator + multi-scale patch discriminator, with identity loss
through a frozen recognizer, reconstruction loss on same-person pairs, weak feature matching, hinge
adversarial loss and an optional R1 gradient penalty.

    from faceplate.training.swapper_train import train_swapper
    result = train_swapper(load_config("swapper_224.yaml", "swapper"))
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from faceplate.core.errors import FaceplateError

from . import data as data_mod
from .config import SwapperConfig
from .trainer import Distributed, TrainResult, batch_workers, pick_device, run, seed_everything, setup_distributed

log = logging.getLogger("faceplate.training")


class SwapperJob:
    def __init__(self, cfg: SwapperConfig, dist_info: Distributed):
        import torch

        from .swapper_model import Generator, MultiScaleDiscriminator, load_recognizer

        self.cfg, self.dist = cfg, dist_info
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        if cfg.input_size % (2 ** cfg.down_layers):
            raise FaceplateError(f"swapper input_size {cfg.input_size} must be a multiple of 2**down_layers "
                                 f"({2 ** cfg.down_layers})")
        seed_everything(cfg.seed)
        self.device = pick_device(cfg, dist_info)
        self.recognizer = load_recognizer(cfg.recognizer, cfg.alignment, cfg.input_size,
                                          cfg.recognizer_name or None).to(self.device)
        index = data_mod.scan_dataset(cfg.dataset, min_classes=2, max_per_class=cfg.max_images_per_class)
        self.train_index, self.val_index = data_mod.split_index(index, cfg.val_fraction, cfg.seed)
        # The arcface112 crop spans ~76 % of the FFHQ crop: keep 1.5x so the template crop is not upsampled.
        self.store = data_mod.ImageStore(work_size=max(int(cfg.input_size * 1.5), 128))
        self.sampler = data_mod.Sampler(self.train_index, self.store, cfg.seed, dist_info.rank,
                                        data_mod.Augment() if cfg.augment else None,
                                        batch_workers(cfg, self.device))
        self.G = Generator(self.recognizer.dim, cfg.base_channels, cfg.down_layers, cfg.id_blocks).to(self.device)
        self.D = MultiScaleDiscriminator(cfg.disc_channels, cfg.disc_layers, cfg.disc_scales).to(self.device)
        self.models = {"G": self.G, "D": self.D}
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        self.optimizers = {"G": self.opt_g, "D": self.opt_d}
        self.g_run, self.d_run = self.G, self.D
        if dist_info.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [dist_info.local_rank] if self.device.type == "cuda" else None
            self.g_run, self.d_run = DDP(self.G, device_ids=ids), DDP(self.D, device_ids=ids)
        self._fixed: list[Any] = []
        self._last: Optional[tuple] = None
        log.info("swapper: %d identities, %d crops; recognizer %s (%s, %d-d)", len(index.classes),
                 len(self.train_index.items), self.recognizer.name, self.recognizer.family, self.recognizer.dim)

    def _batch(self, step: int):
        cfg = self.cfg
        draw = lambda: self.sampler.swap_batch(cfg.batch_size, cfg.input_size, cfg.alignment, cfg.same_identity_fraction)
        if cfg.overfit_batches > 0:
            while len(self._fixed) < cfg.overfit_batches:
                self._fixed.append(draw())
            return self._fixed[step % cfg.overfit_batches]
        return draw()

    def train_step(self, step: int) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        cfg = self.cfg
        targets, sources, same = self._batch(step)
        x = torch.from_numpy(targets).to(self.device)
        s = torch.from_numpy(sources).to(self.device)
        same_t = torch.from_numpy(same.astype(np.float32)).to(self.device)
        use_amp = cfg.amp and self.device.type == "cuda"
        amp = lambda: torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=use_amp)
        with torch.no_grad():
            src_id = self.recognizer(s)
        self.G.train()
        self.D.train()

        # Discriminator: hinge loss on real targets vs detached swaps (+ optional R1 penalty).
        with amp():
            fake = self.g_run(x, src_id)
        real = x.detach().requires_grad_(cfg.lambda_gp > 0)
        n = real.shape[0]
        with amp():
            # One forward over real and fake (per-sample norms make this equal to two): DDP wants one per backward.
            both = self.d_run(torch.cat([real, fake.detach()]))
        d_real = [[f[:n] for f in scale] for scale in both]
        d_fake = [[f[n:] for f in scale] for scale in both]
        loss_d = sum(F.relu(1 - r[-1].float()).mean() + F.relu(1 + f[-1].float()).mean() for r, f in zip(d_real, d_fake))
        gp = torch.zeros((), device=self.device)
        if cfg.lambda_gp > 0:
            grad, = torch.autograd.grad(sum(r[-1].float().sum() for r in d_real), real, create_graph=True)
            gp = grad.pow(2).flatten(1).sum(1).mean()
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d + cfg.lambda_gp * gp).backward()
        self.opt_d.step()

        # Generator: adversarial + weak feature matching + identity + reconstruction (same-person rows).
        with amp():
            # The bare D here (not its DDP wrapper): G's loss must not all-reduce D's gradients, which the
            # next D step zeroes anyway.
            d_fake = self.D(fake)
            with torch.no_grad():
                d_real = self.D(x)
        adv = -sum(f[-1].float().mean() for f in d_fake)
        # "Weak" feature matching: only the last feature layers before the output, as in SimSwap.
        fm = sum(F.l1_loss(f[-2].float(), r[-2].float().detach()) for f, r in zip(d_fake, d_real))
        fake_id = self.recognizer(fake.float())
        idl = (1 - (fake_id * src_id).sum(1)).mean()
        per_row = (fake.float() - x).abs().flatten(1).mean(1)
        rec = (per_row * same_t).sum() / same_t.sum().clamp(min=1)
        loss_g = cfg.lambda_adv * adv + cfg.lambda_fm * fm + cfg.lambda_id * idl + cfg.lambda_rec * rec
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self._last = (x.detach(), s.detach(), fake.detach())
        if cfg.overfit_batches <= 0:
            # The GPU still runs the queued kernels (nothing above waits for them): warp the next batch
            # on the worker threads meanwhile; the float() conversions below wait for the GPU.
            self.sampler.prefetch_swap_batch(cfg.batch_size, cfg.input_size, cfg.alignment, cfg.same_identity_fraction)
        return {"loss_g": float(loss_g.detach()), "loss_d": float(loss_d.detach()), "id": float(idl.detach()),
                "rec": float(rec.detach()), "fm": float(fm.detach()), "adv": float(adv.detach()),
                "gp": float(gp.detach()), "id_cos": float(1 - idl.detach())}

    def image_grids(self, step: int) -> dict[str, Any]:
        """One grid: rows of target | source | swap (first 4 of the last batch)."""
        import torch

        if self._last is None:
            return {}
        x, s, fake = (t[:4].float().cpu().clamp(0, 1) for t in self._last)
        rows = [torch.cat([a, b, c], dim=2) for a, b, c in zip(x, s, fake)]
        return {"target_source_swap": torch.cat(rows, dim=1)}

    def extra_state(self) -> dict[str, Any]:
        r = self.recognizer
        return {"recognizer": {"name": r.name, "sha256": r.sha256, "family": r.family, "embedding_dim": r.dim},
                "classes": self.train_index.classes}

    def load_extra_state(self, extra: dict[str, Any]) -> None:
        rec = extra.get("recognizer") or {}
        if rec.get("sha256") and rec["sha256"] != self.recognizer.sha256:
            raise FaceplateError(f"{self.cfg.out_dir}: incompatible checkpoint: trained with recognizer "
                                 f"{rec.get('name')} (sha256 {rec['sha256'][:12]}…), the config names "
                                 f"{self.recognizer.name} ({self.recognizer.sha256[:12]}…); use the same recognizer")

    def evaluate(self) -> dict[str, float]:
        """Identity transfer on held-out crops, each target paired with a source of ANOTHER identity:
        cos(R(swap), R(source)) against the baseline cos(R(target), R(source)), cos(R(swap), R(target)),
        and the L1 error of reconstructing a target from its own identity."""
        import torch

        index = self.val_index if len(self.val_index.items) >= 2 else self.train_index
        rng = np.random.Generator(np.random.PCG64(self.cfg.seed + 31))
        order = rng.permutation(len(index.items))[:64]
        kept = [(self.store.get(index.items[i][0]), index.items[i][1]) for i in order]
        kept = [(im, label) for im, label in kept if im is not None]
        labels = np.array([label for _, label in kept])
        if len(kept) < 2 or len(set(labels.tolist())) < 2:
            return {}
        sources = [int(rng.choice(np.flatnonzero(labels != label))) for label in labels]
        crops = torch.from_numpy(np.stack([data_mod.warp_crop(im, self.cfg.alignment, self.cfg.input_size, None, None)
                                           for im, _ in kept])).to(self.device)
        self.G.eval()
        with torch.no_grad():
            tgt = self.recognizer(crops)
            src = tgt[torch.as_tensor(sources, device=self.device)]
            fake_id = self.recognizer(self.G(crops, src))
            rec = self.G(crops, tgt)
        return {"eval_id_cos_swap_source": float((fake_id * src).sum(1).mean()),
                "eval_id_cos_target_source": float((tgt * src).sum(1).mean()),
                "eval_id_cos_swap_target": float((fake_id * tgt).sum(1).mean()),
                "eval_rec_l1": float((rec - crops).abs().mean())}


def train_swapper(cfg: SwapperConfig, progress: bool = True, stop_after: Optional[int] = None) -> TrainResult:
    dist_info = setup_distributed()
    job = SwapperJob(cfg, dist_info)
    result = run(job, dist_info, progress=progress, stop_after=stop_after)
    if result.metrics:
        log.info("swapper eval: %s", " ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()))
    return result
