"""Regions: the visible skin stops at the hairline seen in the image (a fringe is not skin), the
eye/mouth mask covers only the eye openings and the mouth interior."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.core.face import regions
from tests.core.face.faces import add_fringe, face_photo, find_face

def _linear(rgb8):
    x = rgb8.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


@pytest.fixture(scope="module")
def face(asset):
    from faceplate.core.models.zoo import load_detector, load_landmarker
    rgb = face_photo(asset, "media/face_recognition/obama.jpg")
    lm, _ = find_face(rgb, load_detector(), load_landmarker())
    return rgb, lm


@pytest.mark.assets
def test_fringe_is_cut_out_of_the_visible_skin_and_bare_forehead_kept(face):
    rgb, lm = face
    hull = regions._poly_mask(regions.hull_points(lm, 0.45), rgb.shape[:2]) > 0
    bare = regions.visible_skin(_linear(rgb), lm, 0.45)
    fringed, fringe = add_fringe(rgb, lm)
    cut = regions.visible_skin(_linear(fringed), lm, 0.45)
    in_fringe = fringe & hull
    assert bare[in_fringe].mean() > 0.8          # the bare forehead is skin
    assert cut[in_fringe].mean() < 0.1           # the fringe is not
    below = hull & ~fringe
    assert cut[below].mean() > 0.9               # everything under the brows stays


@pytest.mark.assets
def test_feature_mask_covers_eye_openings_and_mouth_interior_only(face):
    rgb, lm = face
    m = regions.feature_mask(lm, rgb.shape[:2])
    at = lambda p: m[int(round(p[1])), int(round(p[0]))]  # noqa: E731
    for i in (37, 38, 40, 43, 44, 46, 61, 62, 66):
        assert at(lm[i]) > 0.9
    assert at(lm[36:42].mean(axis=0)) > 0.9 and at(lm[60:68].mean(axis=0)) > 0.9
    # the brows, the lid crease and eye-surround skin, the cheeks and the nose are the source's
    for eye, brow in ((slice(36, 42), slice(17, 22)), (slice(42, 48), slice(22, 27))):
        crease = lm[eye].mean(axis=0) + 0.5 * (lm[brow].mean(axis=0) - lm[eye].mean(axis=0))
        assert at(crease) < 0.1 and at(lm[brow].mean(axis=0)) < 0.05
    cheek = (lm[2] + lm[31]) / 2
    assert at(cheek) < 0.05 and at(lm[30]) < 0.05 and at(lm[33]) < 0.05


def test_a_real_fringe_ends_the_skin_softly_and_the_hull_edge_stays(package_faces):
    """The astronaut's fringe cuts her skin mid-forehead: faded, her skin reaches 0 at the fringe over
    a tenth of a face, not in one step; under the brows (no cut near) nothing changes."""
    import cv2

    from faceplate.core.analyze.pyramid import detect_faces
    from faceplate.core.models.zoo import load_detector, load_landmarker

    rgb = cv2.cvtColor(cv2.imread(str(package_faces.astronaut)), cv2.COLOR_BGR2RGB)
    det = max(detect_faces(load_detector(), rgb, min_face=40), key=lambda d: d.width)
    lm = np.asarray(load_landmarker().landmarks(rgb, det), np.float64)
    skin = regions.visible_skin(_linear(rgb), lm, 0.45)
    faded = regions.fade_at_cut(skin, lm, 0.45)
    hull = regions._poly_mask(regions.hull_points(lm, 0.45), skin.shape) > 0
    size = regions.face_size(lm)
    assert (hull & (skin < 0.5)).sum() > 0.01 * hull.sum()          # the fringe is cut out
    assert np.all(faded <= skin + 1e-6)
    inner = cv2.erode(hull.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # away from the hull's own edge
    step = lambda m: np.abs(np.diff(m, axis=0))[inner[1:] & inner[:-1]].max()  # noqa: E731
    print(f"largest vertical step inside the hull: skin {step(skin):.2f}, faded {step(faded):.2f}")
    assert step(faded) < 0.5 * step(skin) and step(faded) < 4.0 / (0.1 * size)
    low = regions._poly_mask(regions.hull_points(lm, -0.15), skin.shape) > 0  # the face under the brows
    assert np.abs(faded - skin)[low].mean() < 0.05


def test_backdrop_inside_the_hull_is_trimmed_and_skin_and_jaw_shadow_stay(package_faces):
    """A still whose jaw landmarks sit past its outline (a turned head): the hull takes in a sliver
    of blue backdrop beside the cheek. Trimmed, that sliver is not skin; the face inside, and a
    shadow along the jaw (darker, same chroma), stay skin."""
    import cv2

    from tests.core.plates import load_actor

    actor = load_actor(package_faces.astronaut)
    img, lm = _linear(actor.image), np.asarray(actor.points68, np.float64)
    size = regions.face_size(lm)
    shape = img.shape[:2]
    outline = regions._poly_mask(regions.hull_points(lm, 0.45), shape) > 0
    # the backdrop: saturated blue everywhere outside the true outline
    img = np.where(outline[..., None], img, np.array([0.05, 0.12, 0.6], np.float32)).astype(np.float32)
    # a shadow along the image-left jaw: 1.5 stops darker, skin's own chroma
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float32)
    d = np.min([np.hypot(xx - p[0], yy - p[1]) for p in lm[2:7]], axis=0)
    shadow = outline & (d < 0.05 * size)
    img[shadow] *= 2.0 ** -1.5
    # the jaw landmarks pushed outward by 0.04 face sizes: the hull now reaches over the backdrop
    moved = lm.copy()
    centre = lm[:17].mean(axis=0)
    out = lm[:17] - centre
    moved[:17] = lm[:17] + out / np.linalg.norm(out, axis=1, keepdims=True) * 0.04 * size
    skin = regions.visible_skin(img, moved, 0.45)
    trimmed = regions.trim_silhouette(skin, img, moved, 0.45)
    sliver = (regions._poly_mask(regions.hull_points(moved, 0.45), shape) > 0) & ~outline
    below = regions._poly_mask(regions.hull_points(moved, -0.15), shape) > 0  # under the brows
    sliver &= below
    inner = cv2.erode(outline.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=int(0.08 * size)) > 0
    print(f"backdrop sliver {sliver.sum()} px: skin {skin[sliver].mean():.2f} -> {trimmed[sliver].mean():.2f}; "
          f"jaw shadow {skin[shadow & below].mean():.2f} -> {trimmed[shadow & below].mean():.2f}")
    assert sliver.sum() > 200 and skin[sliver].mean() > 0.5       # the hull took the backdrop in
    assert trimmed[sliver].mean() < 0.1                           # trimmed, it is not skin
    assert trimmed[shadow & below].mean() > 0.8 * skin[shadow & below].mean()
    assert np.array_equal(trimmed[inner & below], skin[inner & below])  # the face inside: untouched


def test_an_object_held_up_to_the_chin_is_cut_out_and_lips_and_cheeks_stay(package_faces):
    """A source still with a microphone held to the chin (a black handle and a grey grille entering
    the landmark hull from below): the hull's skin there is the microphone, which warped onto the
    actor would be a grey and black blob riding the jaw. Trimmed, it is not skin; the lips, and the face
    from the nose up, are trimmed as without it."""
    from tests.core.plates import load_actor

    actor = load_actor(package_faces.astronaut)
    img, lm = _linear(actor.image), np.asarray(actor.points68, np.float64)
    size = regions.face_size(lm)
    shape = img.shape[:2]
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float32)
    # the microphone: a bar from below the chin up to just under the lower lip, beside its middle
    x_mid = 0.5 * (lm[57, 0] + lm[48, 0])
    top = lm[57, 1] + 0.04 * size
    handle = (np.abs(xx - x_mid) < 0.06 * size) & (yy > top + 0.08 * size)
    grille = np.hypot(xx - x_mid, yy - (top + 0.08 * size)) < 0.08 * size
    clean = regions.trim_silhouette(regions.visible_skin(img, lm, 0.45), img, lm, 0.45)
    img = img.copy()
    img[handle] = 0.004                                   # black, ten times darker than any lit skin
    img[grille & ~handle] = np.array([0.35, 0.35, 0.36], np.float32)   # grey metal
    mic = (handle | grille) & (regions._poly_mask(regions.hull_points(lm, 0.45), shape) > 0)
    skin = regions.visible_skin(img, lm, 0.45)
    trimmed = regions.trim_silhouette(skin, img, lm, 0.45)
    lips = regions._poly_mask(lm[48:60], shape, convex=False) > 0
    above = regions._poly_mask(np.vstack([lm[0:3], lm[31:36], lm[14:17], lm[17:27]]), shape) > 0   # nose up
    print(f"microphone {mic.sum()} px: skin {skin[mic].mean():.2f} -> {trimmed[mic].mean():.2f}")
    assert mic.sum() > 150 and skin[mic].mean() > 0.8      # the hull took the microphone in as skin
    assert trimmed[mic].mean() < 0.1                        # trimmed, it is not skin
    assert trimmed[lips].mean() > 0.95 * skin[lips].mean()  # the lips stay the source's
    assert np.array_equal(trimmed[above], clean[above])     # above the mouth: as without the object
