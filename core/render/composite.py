"""Delta compositing of swapped faces into plate frames, face patches, provenance, and regrain.

The one formula (INTERFACES.md "Render outputs"):
    out   = plate + matte · (swap_linear − crop_linear)          (RGB only, where matte > 0)
    patch = (matte · (plate + swap_linear − crop_linear), matte)  premultiplied RGBA
so Nuke's Merge(over) of the patch on the plate equals the composite. Where matte == 0 the plate's
values are copied, not recomputed (``plate + 0·delta`` would turn −0.0 into 0.0 and NaN·0 into NaN),
so those pixels are bit-identical after the half-float round trip.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
from faceplate.core.render.mask import bbox
from faceplate.core.types import PlateFrame, Window

MATTE_CHANNEL = "faceplate.matte"


PROVENANCE_KEYS = ("faceplate/version", "faceplate/model", "faceplate/model_sha256",
                   "faceplate/source_sha256", "faceplate/track_sha256")


@dataclass
class FaceLayer:
    """One swapped face on a plate-space ROI.

    x0, y0: plate pixel coordinate of ``delta[0, 0]`` (absolute, like data windows).
    delta:  (h, w, 3) float32 linear ``swap_linear − crop_linear``.
    matte:  (h, w) float32 0..1, exactly 0 where the plate must stay untouched.
    """
    x0: int
    y0: int
    delta: np.ndarray
    matte: np.ndarray
    track_id: int = 0


def _half_exact(matte: np.ndarray) -> np.ndarray:
    """Round the matte through half so the written matte channel is the matte that was applied."""
    return np.asarray(matte, np.float32).astype(np.float16).astype(np.float32)


@dataclass
class Accumulation:
    """The layers of one frame summed over their bounding box (array rows/cols of the data window).

    rows, cols: slices of the frame array the layers touch (empty slices when there are none);
    matte:  (h, w) float32 combined matte there, half-exact, 0 where no layer reaches;
    change: (h, w, 3) float32 Σ matte_i·delta_i there, 0 where the matte is 0.
    Everything outside the box has matte 0 and no change: work stays proportional to the faces,
    not to the frame (a 2K frame with one face: 0.25 s -> 0.05 s).
    """
    shape: tuple[int, int]
    rows: slice
    cols: slice
    matte: np.ndarray
    change: np.ndarray

    def full_matte(self) -> np.ndarray:
        """(H, W) float32 matte over the whole data window."""
        out = np.zeros(self.shape, np.float32)
        out[self.rows, self.cols] = self.matte
        return out


def accumulate(frame_shape: tuple[int, int], origin: tuple[int, int],
               layers: Sequence[FaceLayer]) -> Accumulation:
    """Sum the layers: combined matte and matte·delta over the layers' box in the data window.

    Several faces combine as ``1 − Π(1 − m_i)`` for the matte and ``Σ m_i·delta_i`` for the change.
    ``origin`` is the data window's (xmin, ymin); layers are clipped to the data window.
    """
    h, w = frame_shape
    placed = []
    for layer in layers:
        lh, lw = layer.matte.shape
        c0, r0 = layer.x0 - origin[0], layer.y0 - origin[1]
        a0, b0 = max(c0, 0), max(r0, 0)
        a1, b1 = min(c0 + lw, w), min(r0 + lh, h)
        if a1 > a0 and b1 > b0:
            placed.append((layer, c0, r0, a0, b0, a1, b1))
    if not placed:
        return Accumulation((h, w), slice(0, 0), slice(0, 0), np.zeros((0, 0), np.float32),
                            np.zeros((0, 0, 3), np.float32))
    top, left = min(p[4] for p in placed), min(p[3] for p in placed)
    bottom, right = max(p[6] for p in placed), max(p[5] for p in placed)
    keep = np.ones((bottom - top, right - left), np.float32)
    change = np.zeros((bottom - top, right - left, 3), np.float32)
    for layer, c0, r0, a0, b0, a1, b1 in placed:
        sub_m = _half_exact(layer.matte)[b0 - r0:b1 - r0, a0 - c0:a1 - c0]
        sub_d = np.nan_to_num(layer.delta[b0 - r0:b1 - r0, a0 - c0:a1 - c0].astype(np.float32),
                              nan=0.0, posinf=0.0, neginf=0.0)
        keep[b0 - top:b1 - top, a0 - left:a1 - left] *= 1.0 - sub_m
        change[b0 - top:b1 - top, a0 - left:a1 - left] += sub_m[..., None] * sub_d
    matte = _half_exact(1.0 - keep)
    # Where every layer's matte is 0 the combined matte is 0 and change is 0: nothing moves.
    change[matte == 0] = 0.0
    return Accumulation((h, w), slice(top, bottom), slice(left, right), matte, change)


def composite(frame: PlateFrame, layers: Sequence[FaceLayer], extra_metadata: Optional[dict] = None,
              accumulated: Optional[Accumulation] = None) -> Any:
    """Composited PlateFrame: RGB changed only where the matte > 0, a half ``faceplate.matte`` added.

    Every other channel, window, pixel aspect and header attribute is carried over unchanged.
    ``accumulated`` = ``accumulate(...)`` of these layers, when the caller already has it.
    """
    pix = frame.pixels
    h, w = pix.shape[:2]
    dw = frame.data_window
    acc = accumulated if accumulated is not None else accumulate((h, w), (dw.xmin, dw.ymin), layers)
    channels = tuple(frame.channels)
    formats = tuple(frame.channel_formats)
    if MATTE_CHANNEL in channels:  # re-rendering a composited frame: replace the old matte
        idx = channels.index(MATTE_CHANNEL)
        out = pix.copy()
        formats = formats[:idx] + ("half",) + formats[idx + 1:]
    else:
        idx = pix.shape[2]
        out = np.empty((h, w, idx + 1), np.float32)  # one copy of the plate, matte appended
        out[..., :idx] = pix
        channels = channels + (MATTE_CHANNEL,)
        formats = formats + ("half",)
    out[..., idx] = 0.0
    box = (acc.rows, acc.cols)
    out[box + (idx,)] = acc.matte
    inside = acc.matte > 0
    if inside.any():
        region, plate_region = out[box], pix[box]
        for k, ch in enumerate(frame.rgb):
            base = plate_region[..., ch][inside]  # a NaN/Inf plate pixel under the face is replaced, not carried
            region[..., ch][inside] = np.nan_to_num(base, nan=0.0, posinf=65504.0, neginf=-65504.0) \
                + acc.change[..., k][inside]
    metadata = dict(frame.metadata)
    metadata.update(extra_metadata or {})
    return dataclasses.replace(frame, pixels=out, channels=channels, channel_formats=formats, metadata=metadata)


def patch(frame: PlateFrame, layers: Sequence[FaceLayer], extra_metadata: Optional[dict] = None,
          accumulated: Optional[Accumulation] = None) -> Any:
    """Premultiplied RGBA face patch whose data window is the bbox of the matte (1×1 zeros if empty)."""

    pix = frame.pixels
    h, w = pix.shape[:2]
    dw = frame.data_window
    acc = accumulated if accumulated is not None else accumulate((h, w), (dw.xmin, dw.ymin), layers)
    box = bbox(acc.matte) if acc.matte.size else None
    if box is None:
        rgba = np.zeros((1, 1, 4), np.float32)
        window = Window(frame.display_window.xmin, frame.display_window.ymin,
                        frame.display_window.xmin, frame.display_window.ymin)
    else:
        c0, r0, c1, r1 = box
        m = acc.matte[r0:r1 + 1, c0:c1 + 1]
        top, left = acc.rows.start, acc.cols.start
        plate_rgb = pix[top + r0:top + r1 + 1, left + c0:left + c1 + 1][..., list(frame.rgb)]
        plate_rgb = np.nan_to_num(plate_rgb, nan=0.0, posinf=65504.0, neginf=-65504.0)
        rgb = m[..., None] * plate_rgb + acc.change[r0:r1 + 1, c0:c1 + 1]
        rgb[m == 0] = 0.0
        rgba = np.concatenate([rgb, m[..., None]], axis=2).astype(np.float32)
        window = Window(dw.xmin + left + c0, dw.ymin + top + r0, dw.xmin + left + c1, dw.ymin + top + r1)
    metadata = {k: v for k, v in frame.metadata.items() if not _is_layout_attribute(k)}
    metadata.update(extra_metadata or {})
    return dataclasses.replace(frame, pixels=np.ascontiguousarray(rgba), channels=("R", "G", "B", "A"),
                               channel_formats=("half",) * 4, rgb=(0, 1, 2), data_window=window,
                               metadata=metadata)


def _is_layout_attribute(key: str) -> bool:
    """Header attributes describing the plate's channel layout that a 4-channel patch must not copy."""
    low = key.lower()
    return low.startswith("cryptomatte/") or low in ("chunkcount", "tiles", "openexr:chunkcount")


def provenance(version: str, model: str, model_sha256: str, source_sha256: str, track_sha256: str) -> dict:
    """The five provenance header attributes written on every output."""
    return dict(zip(PROVENANCE_KEYS, (str(version), str(model), str(model_sha256),
                                      str(source_sha256), str(track_sha256))))
