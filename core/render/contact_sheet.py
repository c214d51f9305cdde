"""Contact sheet: before / after / matte for a few frames, as one PNG for a person to look at.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import cv2
import numpy as np
from faceplate.core.colour import ColourPipeline
from faceplate.core.filesystem import atomic_write_bytes
from faceplate.core.render.composite import MATTE_CHANNEL, composite
from faceplate.core.types import PlateFrame

log = logging.getLogger("faceplate.render")


class ContactSheet:
    """Collects up to ``count`` evenly spaced frames during a render (``add`` is render's on_frame)."""

    def __init__(self, colour: ColourPipeline, frames: Sequence[int], count: int = 4, height: int = 240):
        frames = list(frames)
        idx = np.unique(np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int))
        self.wanted = {frames[i] for i in idx} if frames else set()
        self.colour, self.height = colour, height
        self.rows: dict[int, np.ndarray] = {}

    def _thumb(self, rgb_linear: np.ndarray) -> np.ndarray:
        img = self.colour.to_uint8(rgb_linear)
        h, w = img.shape[:2]
        tw = max(1, int(round(w * self.height / h)))
        return cv2.resize(img, (tw, self.height), interpolation=cv2.INTER_AREA)

    def add(self, frame: int, plate_frame: PlateFrame, out_frame: PlateFrame, layers: list) -> None:
        if frame not in self.wanted:
            return
        if out_frame is None:
            out_frame = composite(plate_frame, layers)
        before = plate_frame.rgb_pixels()
        after = np.ascontiguousarray(out_frame.pixels[..., list(out_frame.rgb)])
        matte = out_frame.pixels[..., out_frame.channels.index(MATTE_CHANNEL)]
        tiles = [self._thumb(before), self._thumb(after),
                 self._thumb(np.repeat(matte[..., None], 3, axis=2))]
        row = np.concatenate([np.pad(t, ((4, 4), (4, 4), (0, 0))) for t in tiles], axis=1)
        cv2.putText(row, str(frame), (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 0), 2, cv2.LINE_AA)
        self.rows[frame] = row

    def image(self) -> Optional[np.ndarray]:
        """(H, W, 3) uint8 RGB, one row per collected frame (before | after | matte), or None."""
        if not self.rows:
            return None
        rows = [self.rows[f] for f in sorted(self.rows)]
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
        return np.concatenate(rows, axis=0)

    def save(self, path: str, out_pattern: Optional[str] = None) -> bool:
        img = self.image()
        if img is None:
            log.warning("contact sheet %s not written: none of its frames was rendered in this run", path)
            return False
        ok, data = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError("PNG encoding failed")
        atomic_write_bytes(path, data.tobytes())
        return True
