"""`faceplate train identity|swapper --config cfg.yaml`: registration only imports argparse (torch is lazy)."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train an identity encoder or a swapper from a dataset folder",
        description="Train from a YAML config (see training/configs/ and docs/TRAINING.md). Progress and ETA on "
                    "stderr; checkpoints (safetensors), losses.csv and TensorBoard logs in the config's out_dir. "
                    "Needs the train extra (torch, PyYAML, safetensors).",
        epilog="examples:\n  faceplate train identity --config training/configs/identity_mobilefacenet.yaml\n"
               "  faceplate train swapper --config training/configs/swapper_224.yaml --resume auto\n"
               "  torchrun --nproc_per_node=4 -m faceplate.core.cli train swapper --config cfg.yaml   # multi-GPU")
    parser.add_argument("kind", choices=["identity", "swapper"], help="what to train")
    parser.add_argument("--config", required=True, help="YAML config file (unknown keys are an error)")
    parser.add_argument("--resume", default=None, help="'auto' or a checkpoint path (default: the config's resume)")
    parser.add_argument("--steps", type=int, default=None, help="override the config's total steps (default: the config's)")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N",
                        help="train N more steps, checkpoint and stop (the schedule still spans --steps: split a run "
                             "over farm jobs and continue it with --resume auto)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import logging

    from faceplate.core.cli import require_extra

    require_extra("train", "yaml", "torch", "safetensors", what=f"`faceplate train {args.kind}`")
    from .config import load_config

    cfg = load_config(args.config, args.kind)
    if args.resume is not None:
        cfg.resume = args.resume
    if args.steps is not None:
        cfg.steps = args.steps
    if args.kind == "identity":
        from .identity_train import train_identity as train
    else:
        from .swapper_train import train_swapper as train
    result = train(cfg, stop_after=args.stop_after)
    log = logging.getLogger("faceplate.training")
    last = result.history[-1] if result.history else {}
    log.info("trained steps %d..%d in %.0f s; last %s", result.first_step, result.last_step, result.seconds,
             " ".join(f"{k}={v:.4f}" for k, v in last.items() if k != "step"))
    if result.corrupt_images:
        log.warning("skipped %d corrupt images", result.corrupt_images)
    for k, v in result.metrics.items():
        log.info("%s = %.4f", k, v)
    if result.checkpoint:
        print(result.checkpoint)
    return 0
