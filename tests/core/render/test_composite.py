"""Delta composite, face patch and regrain on small frames, with real EXR round trips."""
from __future__ import annotations

import numpy as np

from faceplate.core.render.grain import grain, noise_std, regrain_delta
from faceplate.core.render.composite import FaceLayer, MATTE_CHANNEL, composite, patch, provenance
from faceplate.core.types import PlateFrame, Window
from faceplate.core.io.exr import read_image, write_exr


def _frame(h=40, w=50, origin=(-4, -3), channels=("R", "G", "B", "A", "depth.Z"), aspect=1.0):
    rng = np.random.default_rng(0)
    pix = rng.normal(0.3, 0.2, (h, w, len(channels))).astype(np.float16).astype(np.float32)
    pix[0, 0, :3] = -0.0
    pix[1, 1, 0] = np.nan
    pix[2, 2, 1] = np.inf
    pix[3, 3, :3] = 1000.0
    dw = Window(origin[0], origin[1], origin[0] + w - 1, origin[1] + h - 1)
    disp = Window(0, 0, w - 9, h - 7)
    fmts = ("half",) * 4 + ("float",) * (len(channels) - 4)
    return PlateFrame(pix, channels, fmts, (0, 1, 2), dw, disp, aspect, {"studio/show": "tst"}, None, 1001)


def _layer(x0=10, y0=8, h=12, w=15, value=0.5):
    m = np.zeros((h, w), np.float32)
    m[2:-2, 2:-2] = 1.0
    m[1, 1:-1] = 0.25
    return FaceLayer(x0, y0, np.full((h, w, 3), value, np.float32), m, 1)


def _bits16(a):
    return a.astype(np.float16).view(np.uint16)


def test_composite_changes_rgb_only_inside_matte_bit_exact_after_exr_round_trip(tmp_path):
    frame = _frame()
    out = composite(frame, [_layer()], provenance("1", "m", "s", "src", "trk"))
    assert out.channels[-1] == MATTE_CHANNEL and out.channel_formats[-1] == "half"
    path = str(tmp_path / "o.exr")
    write_exr(path, out, provenance("1", "m", "s", "src", "trk"))
    back = read_image(path)
    matte = back.pixels[..., -1]
    inside = matte > 0
    assert inside.sum() == 8 * 11 + 13  # the full block plus the 0.25 row
    for c in range(5):
        a, b = frame.pixels[..., c], back.pixels[..., c]
        sel = ~inside if c < 3 else np.ones_like(inside)
        assert np.array_equal(_bits16(a)[sel] if c < 4 else a[sel].view(np.uint32),
                              _bits16(b)[sel] if c < 4 else b[sel].view(np.uint32))
    # -0.0, NaN, Inf and super-whites outside the matte keep their exact bits.
    assert np.signbit(back.pixels[0, 0, 0]) and np.isnan(back.pixels[1, 1, 0]) and np.isinf(back.pixels[2, 2, 1])
    # Inside: out = plate + matte * delta.
    r, c = 8 - frame.data_window.ymin + 5, 10 - frame.data_window.xmin + 5
    assert back.pixels[r, c, 0] == np.float16(frame.pixels[r, c, 0] + 0.5)
    assert back.metadata["faceplate/model_sha256"] == "s" and back.metadata["studio/show"] == "tst"
    assert back.data_window == frame.data_window and back.display_window == frame.display_window


def test_empty_frame_passes_through_with_empty_matte(tmp_path):
    frame = _frame()
    out = composite(frame, [])
    assert np.array_equal(out.pixels[..., :5].view(np.uint32), frame.pixels.view(np.uint32))
    assert not out.pixels[..., -1].any()
    p = patch(frame, [])
    assert p.pixels.shape == (1, 1, 4) and not p.pixels.any()
    assert (p.data_window.width, p.data_window.height) == (1, 1) and p.display_window == frame.display_window
    write_exr(str(tmp_path / "p.exr"), p)
    assert read_image(str(tmp_path / "p.exr")).pixels.shape == (1, 1, 4)


def test_patch_over_plate_equals_composite():
    frame = _frame()
    frame.pixels[1, 1, 0] = 0.3  # keep finite for the arithmetic check
    frame.pixels[2, 2, 1] = 0.3
    layers = [_layer(), _layer(x0=18, y0=12, value=-0.2)]  # overlapping faces
    out = composite(frame, layers)
    p = patch(frame, layers)
    dw, pw = frame.data_window, p.data_window
    r0, c0 = pw.ymin - dw.ymin, pw.xmin - dw.xmin
    region = frame.pixels[r0:r0 + pw.height, c0:c0 + pw.width, :3]
    over = p.pixels[..., :3] + (1 - p.pixels[..., 3:4]) * region
    assert np.allclose(over, out.pixels[r0:r0 + pw.height, c0:c0 + pw.width, :3], atol=1e-5)
    # Data window = bbox of the matte, display window = the plate's.
    ys, xs = np.nonzero(out.pixels[..., -1] > 0)
    assert (pw.xmin, pw.ymin, pw.xmax, pw.ymax) == (xs.min() + dw.xmin, ys.min() + dw.ymin,
                                                     xs.max() + dw.xmin, ys.max() + dw.ymin)
    assert p.channels == ("R", "G", "B", "A") and p.display_window == frame.display_window


def test_faces_far_apart_and_off_the_edge_match_the_formula_over_the_whole_frame():
    """The composite works on the layers' box only; every pixel still follows out = plate + m·delta."""
    frame = _frame(h=60, w=90)
    layers = [_layer(x0=-8, y0=-6, value=0.25), _layer(x0=70, y0=45, value=-0.125), _layer(x0=200, y0=0)]
    out = composite(frame, layers)
    dw = frame.data_window
    matte = np.zeros(frame.pixels.shape[:2], np.float32)
    change = np.zeros(frame.pixels.shape[:2] + (3,), np.float32)
    for layer in layers[:2]:  # the third lies outside the data window
        r0, c0 = layer.y0 - dw.ymin, layer.x0 - dw.xmin
        rows = slice(max(r0, 0), r0 + layer.matte.shape[0])
        cols = slice(max(c0, 0), c0 + layer.matte.shape[1])
        m = layer.matte[rows.start - r0:, cols.start - c0:]
        matte[rows, cols] = m
        change[rows, cols] = m[..., None] * layer.delta[rows.start - r0:, cols.start - c0:]
    inside = matte > 0
    assert np.array_equal(out.pixels[..., -1], matte)
    assert np.array_equal(out.pixels[~inside][:, :5].view(np.uint32), frame.pixels[~inside].view(np.uint32))
    plate = np.nan_to_num(frame.pixels[..., :3], nan=0.0, posinf=65504.0, neginf=-65504.0)
    assert np.array_equal(out.pixels[inside][:, :3], (plate + change)[inside])
    p = patch(frame, layers)  # the patch spans both faces
    assert (p.data_window.xmin, p.data_window.ymin) == (dw.xmin, dw.ymin)
    assert (p.data_window.xmax, p.data_window.ymax) == (70 + 13, 45 + 9)  # the matte reaches column 13, row 9


def test_layer_clipped_to_data_window():
    frame = _frame()
    out = composite(frame, [_layer(x0=-10, y0=-8)])  # hangs off the top-left corner
    assert out.pixels[..., -1].any()


def test_grain_is_seeded_by_frame_and_track_and_matches_plate_noise():
    a = grain((64, 64), np.array([0.01, 0.02, 0.03]), 1001, 1)
    assert np.array_equal(a, grain((64, 64), np.array([0.01, 0.02, 0.03]), 1001, 1))
    assert not np.array_equal(a, grain((64, 64), np.array([0.01, 0.02, 0.03]), 1002, 1))
    assert not np.array_equal(a, grain((64, 64), np.array([0.01, 0.02, 0.03]), 1001, 2))
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:128, 0:128] / 128.0
    smooth = np.stack([0.2 + 0.1 * xx, 0.3 + 0.1 * yy, 0.1 + 0.05 * xx * yy], axis=2).astype(np.float32)
    plate = smooth + rng.normal(0, [0.004, 0.008, 0.012], smooth.shape).astype(np.float32)
    matte = np.ones((128, 128), np.float32)
    added = regrain_delta(plate, smooth, matte, 1001, 1)
    measured = noise_std(smooth + added)
    assert np.allclose(measured, [0.004, 0.008, 0.012], rtol=0.1), measured
    # An already-grainy swap gets no extra grain.
    assert np.abs(regrain_delta(plate, plate, matte, 1001, 1)).max() < 1e-3
