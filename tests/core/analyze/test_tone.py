"""The plate's skin tone per entry (analyze/tone): measured on a real face's skin in the aligned square,
smoothed over the shot so a one-frame jump does not reach the render."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.analyze import occlusion as oc
from faceplate.core.analyze import tone as tn
from faceplate.core.face import regions
from tests.core.face.faces import face_photo, find_face


@pytest.fixture(scope="module")
def face(asset):
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.models.zoo import load_detector, load_landmarker
    rgb = face_photo(asset, "media/face_recognition/obama.jpg", 150)
    lm, _ = find_face(rgb, load_detector(), load_landmarker())
    lin = ColourPipeline().to_linear(rgb.astype(np.float32) / 255.0)
    return oc.aligned_face(lin, lm), lm


@pytest.mark.assets
def test_tone_is_the_skin_without_eyes_mouth_or_what_covers_it(face):
    aligned, lm = face
    region = tn.skin_region(aligned, lm)
    lm_a = oc.align.transform_points(lm, oc.aligned_transform(lm))
    features = np.zeros(region.shape, np.uint8)
    for poly in regions.eye_polygons(lm_a) + [lm_a[48:60]]:   # eye openings and the lips
        cv2.fillPoly(features, [np.round(poly).astype(np.int32)], 1)
    features = features > 0
    assert region.sum() > 2000 and not (region & features).any()   # eyes and mouth interior left out
    t = tn.measure(aligned, lm)
    skin = aligned[region].astype(np.float64)
    np.testing.assert_allclose(t.mean, skin.mean(axis=0), rtol=1e-3)
    assert t.mean[0] > t.mean[1] > t.mean[2]                      # skin: red over green over blue
    # a blue card over a cheek moves the mean unless the covered pixels are left out
    covered = np.zeros(region.shape, bool)
    covered[70:100, 30:60] = True
    carded = aligned.copy()
    carded[covered] = [0.02, 0.05, 0.6]
    assert abs(tn.measure(carded, lm).mean[2] / t.mean[2] - 1) > 0.1
    np.testing.assert_allclose(tn.measure(carded, lm, covered).mean, t.mean, rtol=0.08)


@pytest.mark.assets
def test_shading_field_follows_a_light_from_one_side(face):
    aligned, lm = face
    base = tn.measure(aligned, lm)
    ramp = np.exp(np.linspace(-0.4, 0.4, aligned.shape[1], dtype=np.float32))   # brighter to the right
    lit = tn.measure(aligned * ramp[None, :, None], lm)
    change = lit.field - base.field
    # the field is relative to the mean: its left-right tilt is the ramp's (0.8 over 128 px, 10 px a cell)
    tilt = np.polyfit(np.arange(tn.GRID) * 10.0, change[2:6].mean(axis=0), 1)[0]
    assert tilt == pytest.approx(0.8 / 127, rel=0.25)
    assert np.allclose(tn.unpack(tn.pack(lit)).field, lit.field)


@pytest.mark.assets
def test_smoothing_removes_a_one_frame_gain_jump(face):
    aligned, lm = face
    rng = np.random.default_rng(1)
    tones = []
    for f in range(24):
        gain = np.exp(rng.normal(0.0, 0.01, 3)).astype(np.float32) * (1.35 if f == 11 else 1.0)
        tones.append(tn.measure(aligned * gain, lm))
    trusted = np.ones(24, bool)
    raw = np.array([t.mean for t in tones])
    smooth = np.array([tn.unpack(v).mean for v in tn.track_tones(tones, list(range(24)), [], trusted)])
    jump = lambda m: np.abs(np.diff(np.log(m), axis=0)).max()   # noqa: E731
    assert jump(raw) > 0.28 and jump(smooth) < 0.1 * jump(raw)
    # a frame not trusted (something in front of the face) is filled from its neighbours
    trusted[11] = False
    filled = np.array([tn.unpack(v).mean for v in tn.track_tones(tones, list(range(24)), [], trusted)])
    assert jump(filled) < 0.05
    # a cut separates pieces: a real change of light at a cut is kept
    lit = [t if f < 12 else tn.measure(aligned * 1.5, lm) for f, t in enumerate(tones[:11] + [tones[10]] + tones[12:])]
    cut = np.array([tn.unpack(v).mean for v in tn.track_tones(lit, list(range(24)), [12], np.ones(24, bool))])
    assert np.log(cut[12] / cut[11]).mean() == pytest.approx(np.log(1.5), abs=0.03)


@pytest.mark.assets
def test_how_the_colour_follows_the_shading_is_measured(face):
    """The face relit from one side, its shadow side redder and less blue the darker it is (as skin
    in shadow is: d log(R/Y) / d log Y = -0.4, d log(B/Y) / d log Y = +0.6 over the relit face):
    the measured chroma slopes move that way (diluted: the regression also sees the photo's own form
    shading, whose colour does not follow: about a quarter and two fifths of the light's here)."""
    aligned, lm = face
    base = tn.measure(aligned, lm)
    ramp = np.exp(np.linspace(0.6, -0.6, aligned.shape[1], dtype=np.float32))[None, :]   # lit from the left
    lit = aligned * ramp[..., None]
    lit[..., 0] *= ramp ** -0.4
    lit[..., 2] *= ramp ** 0.6
    change = tn.measure(lit, lm).chroma_slope - base.chroma_slope
    print(f"chroma slopes {np.round(base.chroma_slope, 3)} -> change {np.round(change, 3)}")
    assert -0.4 < change[0] < -0.05 and 0.1 < change[1] < 0.6
    assert np.allclose(tn.unpack(tn.pack(base)).chroma_slope, base.chroma_slope)
    from faceplate.core.io.track_file import TONE_VALUES_BEFORE_CHROMA_FIELD as BEFORE
    older = tn.unpack(tn.pack(base)[:BEFORE - 2])    # a track file written before the slopes
    assert np.array_equal(older.chroma_slope, [0.0, 0.0]) and np.allclose(older.field, base.field)
    assert older.chroma_field is None


def test_the_chroma_field_says_where_the_skin_is_redder_whatever_its_luminance():
    """The lower half of a real face made redder and less blue at the same luminance (flushed
    cheeks): the chroma field's lower cells rise in R/Y and fall in B/Y against the upper ones, by
    about what was done (blurred at the field's scale), and the field survives the track file."""
    from faceplate.core.colour import LUMA_709
    from faceplate.core.models.zoo import load_detector, load_landmarker
    from tests.core.t1_faces import face_crop

    image, _ = face_crop("centre", size=300, eye_distance=80.0)
    u8 = np.clip(np.clip(image, 0, 1) ** (1 / 2.2) * 255, 0, 255).astype(np.uint8)
    lm, _ = find_face(u8, load_detector(), load_landmarker())
    aligned = oc.aligned_face(image, lm)
    base = tn.measure(aligned, lm)
    flushed = aligned.copy()
    lower = np.zeros(aligned.shape[:2], bool)
    lower[int(0.62 * aligned.shape[0]):] = True
    px = flushed[lower] * np.array([np.exp(0.3), 1.0, np.exp(-0.3)], np.float32)
    luma = LUMA_709.astype(np.float32)
    px *= ((aligned[lower] @ luma) / np.maximum(px @ luma, 1e-6))[:, None]
    flushed[lower] = px
    change = tn.measure(flushed, lm).chroma_field - base.chroma_field
    g = tn.grid_to_aligned()
    rows = g[1, 1] * np.arange(tn.GRID) + g[1, 2]
    low, high = rows > 0.75 * aligned.shape[0], rows < 0.45 * aligned.shape[0]
    r = change[0][low].mean() - change[0][high].mean()
    b = change[1][low].mean() - change[1][high].mean()
    print(f"chroma field, lower minus upper cells: R/Y {r:.3f}, B/Y {b:.3f} (made: +0.3, -0.3 minus the luma share)")
    assert 0.1 < r < 0.4 and -0.4 < b < -0.1
    assert np.allclose(tn.unpack(tn.pack(base)).chroma_field, base.chroma_field)
