"""The ``faceplate`` console script.

Each room registers its subcommands through the ``faceplate.commands`` entry-point group
(see pyproject.toml): an entry point is a function ``register(subparsers)`` that adds one
subcommand whose parser sets ``func`` (called with the parsed args, returns an exit code).
Registration must stay cheap: heavy imports (torch, onnxruntime sessions, Qt) happen inside
``func``, never at module import.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
import warnings
from importlib import metadata
from typing import Optional, Sequence

from faceplate.core import __version__
from faceplate.core.errors import FaceplateError


def _command_entry_points() -> list:
    eps = metadata.entry_points()
    if hasattr(eps, "select"):
        return sorted(eps.select(group="faceplate.commands"), key=lambda ep: ep.name)
    return sorted(eps.get("faceplate.commands", []), key=lambda ep: ep.name)  # Python 3.9


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every subcommand's help: paragraphs wrap, indented lines (the examples) stay as written, and an
    option's default is shown unless its help already says it (or there is none to show)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in re.split(r"\n\s*\n", text.strip("\n")):
            lines = para.splitlines()
            if any(line[:1].isspace() for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(super()._fill_text(para, width, indent))
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default is None or default is False or default == []
                or default is argparse.SUPPRESS or (not action.option_strings and action.nargs not in ("?", "*"))):
            return text
        return text + " (default: %(default)s)"


def walk_parsers(parser: argparse.ArgumentParser, path: tuple = ()):
    """(("dataset", "build"), parser) for every subcommand, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path + (name,), sub
                yield from walk_parsers(sub, path + (name,))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceplate",
        description=(
            "Face replacement for film VFX. Two passes, like a tracker: `analyze` a shot once into a "
            "track file, then `render` any frame range (in any chunks, on any machine) to "
            "byte-identical EXRs. `swap` does both in one go."
        ),
    )
    parser.add_argument("--version", action="version", version=f"faceplate {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for entry_point in _command_entry_points():
        try:
            register = entry_point.load()
        except ImportError as exc:  # a room whose optional extra is not installed
            sub = subparsers.add_parser(entry_point.name, help=f"(unavailable: {exc})")
            sub.set_defaults(func=_unavailable(entry_point.name, exc))
            continue
        register(subparsers)
    for _, sub in walk_parsers(parser):  # one help style for every room's subcommands
        sub.formatter_class = HelpFormatter
    return parser


def _unavailable(name: str, exc: Exception):
    def run(_args: argparse.Namespace) -> int:
        raise FaceplateError(f"`faceplate {name}` needs an optional extra that is not installed ({exc}); "
                             f"install it, e.g. pip install 'faceplate[train,gui,farm]'")
    return run


def require_extra(extra: str, *modules: str, what: str) -> None:
    """One-line FaceplateError naming the pip extra when a module ``what`` needs cannot be imported
    (a tuple entry is alternatives, e.g. ("PySide6", "PySide2")). Call before any long work."""
    for choice in modules:
        names = choice if isinstance(choice, tuple) else (choice,)
        if not any(_importable(name) for name in names):
            raise FaceplateError(f"{what} needs {' or '.join(names)}, which is not installed: "
                                 f"pip install \"faceplate[{extra}]\"")


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="faceplate: %(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        with warnings.catch_warnings():
            if not args.verbose:  # NaN/overflow arithmetic is reported as such, not as NumPy's warnings
                warnings.simplefilter("ignore", RuntimeWarning)
            return int(args.func(args) or 0)
    except FaceplateError as exc:
        print(f"faceplate: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("faceplate: interrupted; finished frames are complete, re-run with --resume", file=sys.stderr)
        return 130


