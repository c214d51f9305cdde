"""Face thumbnails for the Nuke face picker, made in faceplate's own environment (numpy, OpenCV).

``faceplate nuke thumbnails TRACK --plate P --frame F --out DIR`` writes ``face_<id>.png`` per
track (the crop around its box at the nearest tracked frame); panels.py only loads the PNGs.
"""
from __future__ import annotations

import os

import numpy as np

from faceplate.core.colour import ColourPipeline
from faceplate.core.filesystem import atomic_path
from faceplate.core.io.exr import read_image
from faceplate.core.io.frames import sequence_path
from faceplate.core.io.track_file import load_track_file


def face_thumbnails(track_path: str, plate_pattern: str, frame: int, size: int = 96) -> dict[int, np.ndarray]:
    """Track id → (size, size, 3) uint8 RGB crop around its box at ``frame`` (nearest tracked frame)."""
    import cv2

    tf = load_track_file(track_path)
    thumbs: dict[int, np.ndarray] = {}
    cache: dict[int, tuple] = {}
    colour = ColourPipeline(tf.plate.colourspace)
    for track in tf.tracks:
        if not track.entries:
            continue
        f = min(track.entries, key=lambda k: abs(k - frame))
        if f not in cache:
            image = read_image(sequence_path(plate_pattern or tf.plate.pattern, f), layer=tf.plate.layer)
            cache[f] = (colour.to_uint8(image.rgb_pixels()), image.data_window)
        rgb, dw = cache[f]
        x0, y0, x1, y1 = track.entries[f].box
        cx, cy, half = (x0 + x1) / 2 - dw.xmin, (y0 + y1) / 2 - dw.ymin, max(x1 - x0, y1 - y0) * 0.65
        scale = size / (2 * half)
        m = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]], dtype=np.float64)
        thumbs[track.id] = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    return thumbs


def write_thumbnails(track_path: str, plate_pattern: str, frame: int, folder: str, size: int = 96) -> list[str]:
    """Write ``face_<id>.png`` files into ``folder`` (old ones removed); return their paths."""
    import cv2

    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.startswith("face_") and name.endswith(".png"):
            os.remove(os.path.join(folder, name))
    written = []
    for track_id, rgb in sorted(face_thumbnails(track_path, plate_pattern, frame, size).items()):
        path = os.path.join(folder, f"face_{track_id}.png")
        with atomic_path(path) as tmp:
            _ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            tmp.write_bytes(data.tobytes())
        written.append(path)
    return written
