"""Analyze's appearance pass, piece by piece: the plate skin's texture it stores for render's finish."""
from __future__ import annotations

import numpy as np

from faceplate.core.analyze.appearance import _grain_region, _smoothed_texture, _texture_values
from faceplate.core.face import regions
from faceplate.core.render import texture
from tests.core.render.test_finish import _astronaut


def test_the_stored_texture_is_read_on_the_bare_skin_not_the_grains_oval(package_faces):
    """Analyze measures the plate skin's texture on its visible skin less eyes and mouth, as render's
    finish measures the swap's. The face oval grain is read on also holds hair and backdrop: on the
    head-turn plate it read 40-60 % more "texture" than the finish's bare skin (which would have let
    every swap keep that much more); on this portrait 4-17 %."""
    image, lm, _ = _astronaut(package_faces)
    crop, oval, corner = _grain_region(image, lm)
    local = lm - corner
    stored = _texture_values(crop, local)
    assert stored is not None and stored.shape == (texture.TEXTURE_VALUES,)
    bare = (regions.visible_skin(crop, local, 0.3) > 0.5) & (regions.feature_mask(local, oval.shape) < 0.05)
    assert np.allclose(stored, texture.plate_texture(crop, bare))
    assert not np.allclose(stored, texture.plate_texture(crop, oval), rtol=0.03)
    assert _texture_values(crop[:10, :10], local) is None     # no skin in view: nothing measured


def test_the_texture_is_smoothed_over_the_shot_and_covered_frames_take_their_neighbours():
    rng = np.random.default_rng(5)
    frames = list(range(1001, 1031))
    truth = np.array([0.005, 0.009, 0.02, 0.05, 0.09])
    measured = [truth * np.exp(rng.normal(0.0, 0.08, 5)) for _ in frames]   # 8 % frame-to-frame noise
    measured[10] = truth * 4.0                                              # a hand passing in front
    measured[11] = None                                                     # too little skin
    covered = {f: 0.0 for f in frames}
    covered[frames[10]] = 0.3
    out = _smoothed_texture(measured, frames, list(range(len(frames))), [], covered)
    table = np.stack([out[f] for f in frames])
    raw = np.stack([m for m in measured if m is not None and not np.allclose(m, truth * 4.0)])
    assert np.abs(np.log(table / truth)).mean() < 0.5 * np.abs(np.log(raw / truth)).mean()
    assert np.all(np.abs(np.log(table[10:12] / truth)) < 0.15)
    assert _smoothed_texture([None] * 3, frames[:3], [0, 1, 2], [], {f: 0.0 for f in frames[:3]}) == {}
