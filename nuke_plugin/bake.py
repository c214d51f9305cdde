"""Track file → Nuke animation curves, read with ``json`` alone (this runs inside Nuke's Python).

Per track ``N`` the FaceSwap node gets XY knobs ``fp_tN_eye_l``, ``fp_tN_eye_r``, ``fp_tN_nose``,
``fp_tN_mouth_l``, ``fp_tN_mouth_r`` (the smoothed 5 points, ArcFace order) and a BBox knob
``fp_tN_box`` (x, y, r, t), keyed on every tracked frame in Nuke's y-up space. The host writes
each knob's whole curves with one ``knob.fromScript`` call: ~18 calls for 3 faces, not one
``setValueAt`` per key. Key edits go back through ``faceplate nuke key-edits`` (key_edits.py),
which runs in faceplate's own environment.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from faceplate.nuke.curves import curve_text
from faceplate.nuke.errors import NodeError

POINT_NAMES = ("eye_l", "eye_r", "nose", "mouth_l", "mouth_r")
KNOB_PREFIX = "fp_t"
Window = Sequence[int]  # (xmin, ymin, xmax, ymax) inclusive, EXR display window


def plate_to_nuke(x: float, y: float, display_window: Window, inverse: bool = False) -> tuple[float, float]:
    """THE one conversion between plate pixels (EXR, y down, pixel centres on integers) and Nuke.

    Nuke's origin is the bottom-left corner of the format (= the EXR display window), y up,
    pixel centres on half-integers: ``x_n = x - xmin + 0.5``, ``y_n = ymax - y + 0.5``.
    ``inverse=True`` maps Nuke coordinates back to plate pixels (the y map is its own inverse).
    Pixel aspect needs nothing here: both spaces count stored (squeezed) pixels.
    """
    xmin, ymax = float(display_window[0]), float(display_window[3])
    if inverse:
        return x + xmin - 0.5, ymax - y + 0.5
    return x - xmin + 0.5, ymax - y + 0.5


def box_to_nuke(box: Sequence[float], display_window: Window) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) plate box → Nuke BBox (x, y, r, t)."""
    left, bottom = plate_to_nuke(box[0], box[3], display_window)
    right, top = plate_to_nuke(box[2], box[1], display_window)
    return left, bottom, right, top


def box_from_nuke(xyrt: Sequence[float], display_window: Window) -> tuple[float, float, float, float]:
    """Nuke BBox (x, y, r, t) → plate box (x0, y0, x1, y1)."""
    x0, y1 = plate_to_nuke(xyrt[0], xyrt[1], display_window, inverse=True)
    x1, y0 = plate_to_nuke(xyrt[2], xyrt[3], display_window, inverse=True)
    return x0, y0, x1, y1


def knob_name(track_id: int, part: str) -> str:
    return f"{KNOB_PREFIX}{track_id}_{part}"


@dataclass
class KnobPlan:
    """One knob to create: kind "XY_Knob" or "BBox_Knob"; keys[index] = [(frame, value)]."""
    name: str
    label: str
    kind: str
    keys: list[list[tuple[int, float]]]

    def script(self) -> str:
        """The knob's value as .nk text: ``{curve x1001 …} {curve x1001 …}`` for ``fromScript``."""
        return " ".join("{" + curve_text(index_keys) + "}" for index_keys in self.keys)


def read_track_json(path: str) -> dict[str, Any]:
    """The track file as plain JSON (faceplate.track/1); only the fields the bake needs are checked."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise NodeError(f"{path}: no track file; press Analyze first") from None
    except (OSError, ValueError) as exc:
        raise NodeError(f"{path}: cannot read the track file ({exc}); press Analyze again") from None
    if not isinstance(data, dict) or "plate" not in data or "tracks" not in data:
        raise NodeError(f"{path}: not a faceplate track file (no plate/tracks); press Analyze again")
    return data


def bake_plan(data: dict[str, Any]) -> list[KnobPlan]:
    """Every knob and key Analyze writes for a track file's JSON (tracks in file order, frames ascending)."""
    dw = data["plate"]["display_window"]
    plans: list[KnobPlan] = []
    for track in data["tracks"]:
        tid = int(track["id"])
        entries = sorted((int(f), e) for f, e in track["frames"].items())
        for i, part in enumerate(POINT_NAMES):
            xs, ys = [], []
            for f, e in entries:
                x, y = plate_to_nuke(e["points5"][i][0], e["points5"][i][1], dw)
                xs.append((f, x))
                ys.append((f, y))
            plans.append(KnobPlan(knob_name(tid, part), f"face {tid} {part.replace('_', ' ')}", "XY_Knob",
                                  [xs, ys]))
        boxes = [(f, box_to_nuke(e["box"], dw)) for f, e in entries]
        plans.append(KnobPlan(knob_name(tid, "box"), f"face {tid} box", "BBox_Knob",
                              [[(f, b[j]) for f, b in boxes] for j in range(4)]))
    return plans
