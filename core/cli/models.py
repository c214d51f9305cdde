"""`faceplate models list | verify`: what models exist, where they come from, are they intact.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list the known models (licence, commercial use, source) and verify their sha256",
        description="Models are the embedded defaults (inside installed packages) plus known third-party "
                    "files found by name in the folders of $FACEPLATE_MODEL_PATH, and slots for the swappers "
                    "and parsers you bring (inswapper_128, SimSwap 224/512, a BiSeNet parser): `list` says where "
                    "each file goes, where it comes from and its licence; `verify` checks sha256s.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  faceplate models list\n  FACEPLATE_MODEL_PATH=~/models faceplate models verify\n"
               "  faceplate models verify pfld98-ghostone")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    p_list = sub.add_parser(
        "list", help="name, role, licence, commercial use, source, sha256",
        description="Every model this install knows: the embedded defaults, known third-party files (found or "
                    "not, and where they were looked for), and the swapper / parser slots, each with its licence, "
                    "whether commercial use is allowed, where the file comes from and where to put it.",
        epilog="examples:\n  faceplate models list\n  faceplate models list --json > models.json")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(func=run_list)
    p_verify = sub.add_parser(
        "verify", help="hash-check every available model (exit 1 on any mismatch)",
        description="Compute the sha256 of each model file found (embedded, or in the $FACEPLATE_MODEL_PATH "
                    "folders) and compare it with the registered one; prints ok / missing / MISMATCH per model "
                    "and exits 1 on any mismatch.",
        epilog="examples:\n  faceplate models verify\n  faceplate models verify dlib-68 ~/models/MobileFaceNet.onnx")
    p_verify.add_argument("models", nargs="*", help="names or files to check (default: every known model)")
    p_verify.set_defaults(func=run_verify)
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def _rows() -> list[dict]:
    from faceplate.core.models.locate import locate
    from faceplate.core.models.manifest import DEFAULT_DETECTOR, DEFAULT_LANDMARKER, DEFAULT_RECOGNIZER, registry

    rows = []
    defaults = {DEFAULT_DETECTOR, DEFAULT_LANDMARKER, DEFAULT_RECOGNIZER}
    for entry in registry().values():
        found, where = locate(entry)
        rows.append({
            "name": entry.name, "role": entry.role, "family": entry.contract.family,
            "default": entry.name in defaults, "licence": entry.licence,
            "commercial_use": entry.commercial_use, "source": entry.source,
            "location": where if found is not None else None, "sha256": entry.sha256,
        })
    return rows


def run_list(args: argparse.Namespace) -> int:
    rows = _rows()
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    header = f"{'name':22} {'role':10} {'default':7} {'commercial':10} {'sha256':12} licence / source / location"
    print(header)
    for r in rows:
        print(f"{r['name']:22} {r['role']:10} {'yes' if r['default'] else '':7} "
              f"{'yes' if r['commercial_use'] else 'NO':10} {r['sha256'][:12]} {r['licence']}")
        print(f"{'':65}from {r['source']}")
        print(f"{'':65}{r['location'] or 'not found (put the file in a $FACEPLATE_MODEL_PATH folder)'}")
    _print_slots()
    return 0


def _print_slots() -> None:
    """The swapper and parser slots: faceplate ships none of these files; each line says where one goes."""
    from faceplate.core.models.locate import MODEL_PATH_ENV, locate_slot
    from faceplate.core.models.manifest import slots

    print()
    print(f"slots: third-party files you bring (none shipped): put the file in a ${MODEL_PATH_ENV} folder "
          f"(os.pathsep-separated list; sub-folders searched)")
    print(f"{'name':22} {'role':10} {'file':20} {'commercial':10} licence / source / use / location")
    for slot in slots().values():
        _, found = locate_slot(slot.name)
        print(f"{slot.name:22} {slot.role:10} {slot.filename:20} {'yes' if slot.commercial_use else 'NO':10} "
              f"{slot.licence}")
        print(f"{'':65}from {slot.source}")
        print(f"{'':65}use: faceplate render ... {slot.usage}")
        print(f"{'':65}{found or f'not found (put {slot.filename} in a ${MODEL_PATH_ENV} folder)'}")
    print("commercial work: the classical engine (default) or your own swapper (faceplate train swapper, then "
          "faceplate export), with --landmarker PFLD_GhostOne_112_1_opt_sim.onnx (Apache-2.0) instead of dlib-68")


def run_verify(args: argparse.Namespace) -> int:
    from faceplate.core.errors import ModelError
    from faceplate.core.models.locate import infer_role, locate, resolve, verify
    from faceplate.core.models.manifest import registry

    reg = registry()
    bad = 0
    targets = args.models or list(reg)
    for target in targets:
        try:
            if target in reg:
                entry = reg[target]
                found, where = locate(entry)
                if found is None:
                    print(f"missing  {entry.name}: {where}")
                    continue
                verify(entry, found)
            else:
                entry, _ = resolve(target, infer_role(target))
                where = target
            print(f"ok       {entry.name} ({entry.sha256[:12]}) {where}")
        except ModelError as exc:
            bad += 1
            print(f"MISMATCH {target}: {exc}")
    return 1 if bad else 0
