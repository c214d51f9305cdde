"""Every subcommand's help: a paragraph saying what it does, its defaults, an example, help on every option."""
from __future__ import annotations

import argparse

from faceplate.core.cli.__init__ import build_parser, walk_parsers

EXPECTED = {("analyze",), ("render",), ("swap",), ("sample",), ("models",), ("models", "list"),
            ("models", "verify"), ("dataset",), ("dataset", "build"), ("dataset", "cluster"), ("dataset", "pack"),
            ("dataset", "report"), ("dataset", "gui"), ("train",), ("export",), ("farm",), ("farm", "submit"),
            ("farm", "render"), ("nuke",), ("nuke", "setup"), ("nuke", "key-edits"), ("nuke", "thumbnails")}


def _options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def test_every_subcommand_has_a_description_an_example_and_option_help():
    parsers = dict(walk_parsers(build_parser()))
    assert EXPECTED <= set(parsers), EXPECTED - set(parsers)
    problems = []
    for path, parser in parsers.items():
        name = " ".join(path)
        text = parser.format_help()
        if len((parser.description or "").split()) < 12:
            problems.append(f"{name}: no one-paragraph description")
        epilog = parser.epilog or ""
        if "example" not in epilog.lower() or f"faceplate {path[0]}" not in epilog:
            problems.append(f"{name}: no example")
        if "``" in text:
            problems.append(f"{name}: raw double backticks")
        formatter = parser._get_formatter()
        for action in _options(parser):
            label = "/".join(action.option_strings) or action.dest
            if not action.help or action.help == argparse.SUPPRESS:
                problems.append(f"{name} {label}: no help")
                continue
            meaningful = action.default not in (None, False, [], argparse.SUPPRESS) and action.option_strings
            if meaningful and "default" not in formatter._get_help_string(action).lower():
                problems.append(f"{name} {label}: default {action.default!r} not shown")
    assert not problems, "\n".join(problems)


def test_defaults_are_shown_and_examples_keep_their_lines():
    parsers = dict(walk_parsers(build_parser()))
    build = parsers[("dataset", "build")].format_help()
    assert "(default: 1024)" in build or "default 1024" in build
    sample = parsers[("sample",)].format_help()
    assert "\n  faceplate sample sample\n" in sample  # an example line is not re-wrapped


def test_swap_frames_help_claims_no_track_file_default():
    parsers = dict(walk_parsers(build_parser()))
    frames = next(a for a in parsers[("swap",)]._actions if "--frames" in a.option_strings)
    assert "track file" not in frames.help and "plate" in frames.help, frames.help
