"""Frame numbers and frame-pattern paths: `1001-1100x2` range specs, `####` / `%04d` / `@@@@`
placeholders, and finding a sequence's frames on disk. Standard library only.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from faceplate.core.errors import PlateError

# The most frames one command takes: 11.5 hours at 24 fps. A range beyond it is a typo
# (``1-100000000``), refused before a frame list (or anything per frame) is built.
MAX_FRAMES = 1_000_000

# At most 12 digits a number: a longer one is a typo, and int() of thousands of digits is slow.
_RANGE = re.compile(r"^\s*(-?\d{1,12})\s*(?:-\s*(-?\d{1,12})\s*(?:[x:]\s*(\d{1,12}))?)?\s*$")


def parse_frames(spec: str) -> list[int]:
    """``"1001-1100"``, ``"1001-1100x2"``, ``"1001,1005,1010-1012"`` -> sorted unique frames."""
    frames: set[int] = set()
    total = 0
    for part in str(spec).split(","):
        if not part.strip():
            continue
        match = _RANGE.match(part)
        if not match:
            raise PlateError(f"bad frame range {spec!r}: use e.g. 1001-1100, 1001-1100x2 or 1001,1005,1010-1012")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        step = int(match.group(3)) if match.group(3) is not None else 1
        if last < first or step < 1:
            raise PlateError(f"bad frame range {part.strip()!r} in {spec!r}: the range must run forward with step >= 1")
        total += len(range(first, last + 1, step))
        if total > MAX_FRAMES:
            raise PlateError(f"frame range {spec!r} has more than {MAX_FRAMES:,} frames; render a shot in "
                             f"ranges of at most that many")
        frames.update(range(first, last + 1, step))
    if not frames:
        raise PlateError(f"empty frame range {spec!r}: use e.g. 1001-1100")
    return sorted(frames)


# A placeholder in a pattern: #### (Nuke: one digit per #), @@@@, %04d / %d.
_PLACEHOLDER = re.compile(r"#+|@+|%0?(\d*)d")


def _split_placeholder(pattern: str) -> Optional[tuple[str, int, str]]:
    """(prefix, padding, suffix) of the last placeholder in the file name, or None."""
    directory, name = os.path.split(pattern)
    matches = list(_PLACEHOLDER.finditer(name))
    if not matches:
        return None
    m = matches[-1]
    token = m.group(0)
    if token[0] in "#@":
        pad = len(token)
    else:
        pad = int(m.group(1) or 1)
    return os.path.join(directory, name[:m.start()]), pad, name[m.end():]


def sequence_path(pattern: str, frame: int) -> str:
    """Path of ``frame`` in ``pattern`` (``####``, ``@@@@``, ``%04d``); a literal path is returned as is."""
    parts = _split_placeholder(pattern)
    if parts is None:
        return pattern
    prefix, pad, suffix = parts
    return f"{prefix}{frame:0{pad}d}{suffix}"


def _literal_numbering(path: str) -> Optional[tuple[str, int, str, int]]:
    """For ``plate.1001.exr``: (prefix, padding, suffix, frame) of the last digit run in the name."""
    directory, name = os.path.split(path)
    matches = list(re.finditer(r"-?\d+", name))
    if not matches:
        return None
    m = matches[-1]
    digits = m.group(0)
    # Only a leading "-" right after a separator is a sign ("plate.-001.exr"), not "plate-1001.exr".
    if digits.startswith("-") and m.start() > 0 and name[m.start() - 1] not in "._":
        digits = digits[1:]
        start = m.start() + 1
    else:
        start = m.start()
    pad = len(digits.lstrip("-"))
    return os.path.join(directory, name[:start]), pad, name[start + len(digits):], int(digits)


def _frames_on_disk(prefix: str, pad: int, suffix: str) -> list[int]:
    directory, name_prefix = os.path.split(prefix)
    directory = directory or "."
    regex = re.compile(re.escape(name_prefix) + r"(-?\d+)" + re.escape(suffix) + r"$")
    frames = []
    try:
        entries = os.scandir(directory)
    except OSError:
        return []
    with entries:
        for entry in entries:
            m = regex.match(entry.name)
            if m and f"{int(m.group(1)):0{pad}d}" == m.group(1):  # same padding as the pattern
                frames.append(int(m.group(1)))
    return sorted(frames)


def detect_pattern(path: str) -> tuple[str, list[int]]:
    """A pattern or one frame's path -> (``plate.####.exr``-style pattern, frames found on disk).

    A path without placeholder or digits is a single still: ``(path, [])``.
    """
    path = os.fspath(path)
    parts = _split_placeholder(path)
    if parts is not None:
        prefix, pad, suffix = parts
        pattern = path
    else:
        literal = _literal_numbering(path)
        if literal is None:
            return path, []
        prefix, pad, suffix, _ = literal
        pattern = f"{prefix}{'#' * pad}{suffix}"
    return pattern, _frames_on_disk(prefix, pad, suffix)


def _step(frames: list[int]) -> int:
    steps = {b - a for a, b in zip(frames, frames[1:])}
    return steps.pop() if len(steps) == 1 else 1
