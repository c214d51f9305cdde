"""Nuke animation curves as text: ``{curve x1001 1.5 2.5 x1010 3}`` read, written and evaluated.

Standard library only (runs inside Nuke's own Python and in the saved-script reader). ``x`` sets
the frame of the next key; bare numbers are keys on consecutive frames; letters (``K L C S R Z``)
and slopes (``s``/``t``/``u``/``v`` + number) change a key's interpolation. Nuke's default key is
*smooth*: a cubic through the keys whose slope at a key is the chord of its neighbours
(Catmull-Rom on uneven spacing) and flat at the first and last key. Evaluation here is smooth
everywhere: exact at keys, which is all faceplate bakes and reads back.
"""
from __future__ import annotations

import re
from typing import Sequence

Keys = list[tuple[float, float]]

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_SLOPE = re.compile(r"^[stuv][-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def is_number(word: str) -> bool:
    return bool(_NUMBER.match(word))


def parse_curve(text: str) -> Keys:
    """``curve x1001 1 2 x1010 3`` (the inside of the braces) → [(frame, value), ...] sorted."""
    words = text.split()
    if not words or words[0] != "curve":
        raise ValueError(f"not a curve: {text[:40]!r}")
    keys: dict[float, float] = {}
    frame = 1.0
    for word in words[1:]:
        if _NUMBER.match(word):
            keys[frame] = float(word)
            frame += 1.0
        elif word[0] == "x" and _NUMBER.match(word[1:]):
            frame = float(word[1:])
        elif _SLOPE.match(word) or word.isalpha():
            continue  # interpolation letters and slopes: keys still sit exactly on their values
        else:
            raise ValueError(f"curve word {word!r} not understood in {text[:60]!r}")
    return sorted(keys.items())


def _fmt(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def curve_text(keys: Sequence[tuple[float, float]]) -> str:
    """Keys → ``curve x1001 1.5 2.5 x1010 3`` (consecutive frames share one ``x``), as Nuke saves."""
    words = ["curve"]
    expected = None
    for frame, value in keys:
        if expected is None or frame != expected:
            words.append(f"x{_fmt(frame)}")
        words.append(_fmt(value))
        expected = frame + 1.0
    return " ".join(words)


def _slope(keys: Keys, i: int) -> float:
    if i == 0 or i == len(keys) - 1:
        return 0.0
    (f0, v0), (f1, v1) = keys[i - 1], keys[i + 1]
    return (v1 - v0) / (f1 - f0)


def curve_value(keys: Keys, frame: float) -> float:
    """Evaluate smooth keys at ``frame``: exact at keys, cubic between, held outside."""
    if not keys:
        return 0.0
    if frame <= keys[0][0]:
        return keys[0][1]
    if frame >= keys[-1][0]:
        return keys[-1][1]
    lo, hi = 0, len(keys) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if keys[mid][0] <= frame:
            lo = mid
        else:
            hi = mid
    (f0, v0), (f1, v1) = keys[lo], keys[hi]
    span = f1 - f0
    t = (frame - f0) / span
    m0, m1 = _slope(keys, lo) * span, _slope(keys, hi) * span
    t2, t3 = t * t, t * t * t
    return ((2 * t3 - 3 * t2 + 1) * v0 + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * v1 + (t3 - t2) * m1)
