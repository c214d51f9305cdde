"""Engine v2's finish: the swapped face made to sit in the plate (shading, softness, blending, grain).

The engine hands back ``delta`` (swap − plate) and a matte on one ROI in square pixels. Here, in
linear light: the plate's broad shading is fitted onto the swap (``blend.shading_from_plate``), its
fine colour made to follow its fine shading as the plate skin's does (``colour_match.couple_chroma``), its
colour variation bounded by the plate's (``colour_match.bound_chroma``: a grey plate stays grey), the
swap is softened to the plate's sharpness (``grain.match_detail``), its skin texture kept no stronger
than the plate skin's (``texture.limit_texture``), and the change is blended band
by band (``blend.multiband_delta``) so a residual tone difference fades over a quarter face instead
of a feather's width. Grain comes last, in stored pixels (``plate_grain``): the plate's grain model,
smoothed over the shot in analyze when the track entry carries one, else measured on this frame.
Everything reads frame f's inputs only.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from faceplate.core.face.regions import feature_mask
from faceplate.core.render import blend
from faceplate.core.render.colour_match import RELIGHT_SCALE, bound_chroma, couple_chroma
from faceplate.core.render.grain import GrainModel, match_detail, measure_grain, regrain, unpack_grain
from faceplate.core.render.texture import limit_texture


def finish_delta(crop: np.ndarray, delta: np.ndarray, matte: np.ndarray, points5: np.ndarray,
                 landmarks: np.ndarray, face_size: float, grain: Optional[GrainModel] = None,
                 texture: Optional[np.ndarray] = None) -> np.ndarray:
    """(h, w, 3) float32 change for ``plate + matte · change``: shading, detail and multi-band blending
    applied to the engine's ``delta`` on ``crop`` (linear, square pixels; ``points5`` and the 68
    ``landmarks`` in its pixels). ``grain``: the plate's grain model, when grain is put back after
    this: the swap is softened to the plate's detail without its grain (the grain added afterwards
    would otherwise come on top of detail already as fine as the plate's detail plus grain).
    ``texture``: the plate skin's texture amplitudes smoothed over the shot (the track entry's), else
    measured on ``crop``."""
    inside = matte > 0
    if not inside.any():
        return delta
    engine_swap = np.where(inside[..., None], crop + delta, crop).astype(np.float32)
    skin = matte > 0.5
    # with a track entry's tone the swap already has the plate's shading smoothed over the shot; this
    # fit on the frame itself still matters: without it the forehead band drifted from the plate's
    # (bench, photos · clip: 12.6 -> 13.3 code values) and frame-to-frame did not improve
    swap, _ = blend.shading_from_plate(engine_swap, crop, skin, blend.face_frame(points5))
    # the eyes and mouth the engine kept from the plate are the plate's shading, colour and sharpness
    # already: the skin's shading gain would brighten a lens glare in an eye, or darken teeth
    keep = feature_mask(landmarks, swap.shape[:2])

    def outside_kept(changed: np.ndarray, before: np.ndarray) -> np.ndarray:
        return (changed * (1.0 - keep[..., None]) + before * keep[..., None]).astype(np.float32)

    swap = outside_kept(swap, engine_swap)
    # the swap's fine colour follows its fine shading as the plate skin's does (darker is redder), at
    # the engine's relight scale; then no more colour variation than the plate's skin has
    bare = skin & (keep < 0.05)
    swap = outside_kept(couple_chroma(swap, crop, bare, max(RELIGHT_SCALE * face_size, 1.0)), swap)
    swap = outside_kept(bound_chroma(swap, crop, bare), swap)
    # the blur reads pixels outside the matte: the plate there, so the swap's edge is not darkened
    swap = np.where(inside[..., None], swap, crop).astype(np.float32)
    # sharpness compared on the source's skin only: the kept eyes, brows' edges and mouth are the
    # plate's own detail, and as the most detailed pixels they would make the swap read as soft as it
    soft, sigma = match_detail(swap, crop, bare, plate_grain=grain)
    if sigma > 0:
        swap = outside_kept(soft, swap)
    # and no more pores and blotches than the plate's skin shows (a pored still on a soft plate face)
    swap, _ = limit_texture(swap, crop, bare, face_size, plate_grain=grain, plate_amplitudes=texture)
    # coarsest band 1/16 face: broad tone fades over ~1/8 face, so it does not reach into the kept eyes
    return blend.multiband_delta(crop, swap, matte, face_size, coarsest=0.0625)


def plate_grain(stored: Optional[np.ndarray], crop: np.ndarray, where: np.ndarray) -> GrainModel:
    """The plate's grain around the face: the track entry's (9 numbers, smoothed in analyze) when
    there, else measured on ``crop`` inside ``where`` (an older track file, or ``analyze --no-grain``)."""
    if stored is not None:
        return unpack_grain(stored)
    return measure_grain(crop, where)


def grain_delta(crop: np.ndarray, delta: np.ndarray, matte: np.ndarray, model: GrainModel, frame: int,
                track_id: int) -> np.ndarray:
    """Grain (h, w, 3) float32 to add to ``delta`` so the swap's grain inside the matte reads as the
    plate's (size, channel correlation and per-channel amplitude); seeded by frame and track id."""
    inside = matte > 0.5
    if inside.sum() < 64 or model.samples == 0:
        return np.zeros_like(delta, dtype=np.float32)
    return regrain(crop + delta, model, inside, frame, track_id)
