"""Preview PNGs of a track file: boxes, track ids and landmarks drawn over the plate (cv2).

For a person to check the analysis: smoothed landmarks (dots) and box in the track's colour, the
detector's raw landmarks as small grey dots, the id and source (D detected / I interpolated /
M manual) in a label. Drawn on the plate's data window (stored pixels, sRGB through the colour
pipeline), so plate pixel coordinates only lose the data-window origin.
"""
from __future__ import annotations

import os
from typing import Optional

import cv2
import numpy as np
from faceplate.core.colour import ColourPipeline
from faceplate.core.errors import FaceplateError
from faceplate.core.filesystem import atomic_path
from faceplate.core.io.sequence import PlateSequence
from faceplate.core.types import TrackFile

_PALETTE = [(255, 80, 80), (80, 220, 80), (80, 160, 255), (255, 200, 40), (220, 80, 255), (40, 220, 220),
            (255, 140, 0), (160, 255, 120)]


def track_colour(track_id: int) -> tuple[int, int, int]:
    return _PALETTE[(track_id - 1) % len(_PALETTE)]


def draw_frame(image_rgb: np.ndarray, track_file: TrackFile, frame: int, origin: tuple[int, int] = (0, 0),
               show_raw: bool = True) -> np.ndarray:
    """A copy of ``image_rgb`` (H, W, 3) uint8 with every track's entry for ``frame`` drawn on it.

    ``origin``: plate pixel coordinates of ``image_rgb[0, 0]`` (the data window's min corner).
    """
    out = np.ascontiguousarray(image_rgb.copy())
    h = out.shape[0]
    thick = max(1, int(round(h / 540)))
    off = np.array(origin, dtype=np.float64)
    shift = 4  # sub-pixel drawing: cv2 takes fixed-point coordinates with this many fraction bits

    def fx(p: np.ndarray) -> tuple[int, int]:
        q = (np.asarray(p, dtype=np.float64) - off) * (1 << shift)
        return int(round(q[0])), int(round(q[1]))

    for t in track_file.tracks:
        e = t.entries.get(frame)
        if e is None:
            continue
        col = track_colour(t.id)
        x0, y0, x1, y1 = e.box
        line = cv2.LINE_AA
        if e.source == "interpolated":
            # dashed box: the face was not detected here
            for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
                a, b = np.array(a), np.array(b)
                for k in range(0, 10, 2):
                    cv2.line(out, fx(a + (b - a) * k / 10), fx(a + (b - a) * (k + 1) / 10), col, thick, line, shift)
        else:
            cv2.rectangle(out, fx((x0, y0)), fx((x1, y1)), col, thick, line, shift)
        if show_raw:
            for p in e.landmarks_raw:
                cv2.circle(out, fx(p), 1 << shift, (150, 150, 150), -1, line, shift)
        for p in e.landmarks:
            cv2.circle(out, fx(p), max(1, thick) << shift, col, -1, line, shift)
        for p in e.points5:
            cv2.drawMarker(out, tuple(int(round(v)) for v in (np.asarray(p) - off)), (255, 255, 255),
                           cv2.MARKER_CROSS, 4 * thick + 2, 1)
        label = f"{t.id} {e.source[0].upper()} {e.score:.2f}"
        scale = 0.45 * thick
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        lx, ly = int(round(x0 - off[0])), int(round(y0 - off[1])) - 4
        ly = max(ly, th + 2)
        cv2.rectangle(out, (lx, ly - th - 2), (lx + tw + 2, ly + base), col, -1)
        cv2.putText(out, label, (lx + 1, ly - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    if frame in track_file.cuts:
        cv2.putText(out, "CUT", (8, 24 * thick), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * thick, (255, 255, 255), 2, cv2.LINE_AA)
    cv2.putText(out, str(frame), (8, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def preview_path(directory: str, frame: int) -> str:
    return os.path.join(directory, f"preview.{frame:04d}.png")


def write_previews(plate: PlateSequence, track_file: TrackFile, directory: str, colour: ColourPipeline,
                   max_width: Optional[int] = 1920) -> list[str]:
    """One PNG per plate frame in ``directory`` (``preview.####.png``), each written atomically."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:  # bad --preview folder: one line, not a traceback
        raise FaceplateError(f"{directory}: cannot create the preview folder ({exc.strerror or exc}); "
                             f"choose a writable --preview folder") from None
    written = []
    for pf in plate:
        image = colour.to_uint8(pf.rgb_pixels())
        drawn = draw_frame(image, track_file, int(pf.frame), (pf.data_window.xmin, pf.data_window.ymin))
        if max_width and drawn.shape[1] > max_width:
            s = max_width / drawn.shape[1]
            drawn = cv2.resize(drawn, (max_width, max(1, int(round(drawn.shape[0] * s)))), interpolation=cv2.INTER_AREA)
        path = preview_path(directory, int(pf.frame))
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), np.ascontiguousarray(drawn[:, :, ::-1])):
                raise OSError(f"cannot write {path}")
        written.append(path)
    return written
