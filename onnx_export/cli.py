"""`faceplate export CKPT -o model.onnx [--from faceplate|simswap] [--fp16] [--opset N] [--dynamic-batch]`
(torch imported lazily)."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a training checkpoint to ONNX with its model contract",
        description="Export an identity or swapper checkpoint (or, with --from simswap, an official SimSwap "
                    "generator .pth) to ONNX. The model contract goes into metadata_props "
                    "(faceplate.contract), the ONNX checker runs, and onnxruntime's output is compared with torch's "
                    "(fails above --tolerance, prints the max error). Needs the train extra (torch).",
        epilog="examples:\n  faceplate export runs/swapper_224/checkpoints/step_00500000.safetensors -o my_swapper.onnx\n"
               "  faceplate export --from simswap checkpoints/people/latest_net_G.pth -o simswap_224.onnx")
    parser.add_argument("checkpoint", help="a .safetensors checkpoint written by `faceplate train`, or with "
                                           "--from simswap a SimSwap generator state_dict (latest_net_G.pth)")
    parser.add_argument("--from", dest="source", choices=("faceplate", "simswap"), default="faceplate",
                        help="checkpoint origin: faceplate (default) or simswap (official 224/512 generator; "
                             "weights only, strict key match)")
    parser.add_argument("-o", "--output", required=True, help="output .onnx path")
    parser.add_argument("--fp16", action="store_true", help="store weights and compute in float16 (GPU inference)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--dynamic-batch", action="store_true", help="make the batch dimension dynamic")
    parser.add_argument("--name", default=None, help="model name recorded in the contract (default: the output file's stem)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="max abs difference onnxruntime vs torch (default 1e-4 fp32, 2e-2 fp16)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import os

    from faceplate.core.cli import require_extra
    from faceplate.core.errors import FaceplateError

    if not os.path.isfile(args.checkpoint):  # a typo is reported as such, even without torch
        raise FaceplateError(f"{args.checkpoint}: checkpoint not found; pass a .safetensors file written by "
                             f"`faceplate train` (or a SimSwap .pth with --from simswap)")
    require_extra("train", "torch", "safetensors", what="`faceplate export`")
    from .export import export_checkpoint, export_simswap

    export = export_simswap if args.source == "simswap" else export_checkpoint
    report = export(args.checkpoint, args.output, fp16=args.fp16, opset=args.opset,
                    dynamic_batch=args.dynamic_batch, name=args.name, tolerance=args.tolerance)
    print(f"{report.path}: {report.role} parity max abs diff {report.max_abs_diff:.3g} "
          f"(tolerance {report.tolerance:g}); sha256 {report.sha256}")
    return 0
