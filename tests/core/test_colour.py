"""Colour pipeline: OCIO config choice, known values, exact round trip, clamping and NaN handling."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceplate.core.colour import ColourPipeline
from faceplate.core.errors import FaceplateError


def _srgb_encode(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 encoding, written out independently of OCIO."""
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0), 1 / 2.4) - 0.055)


@pytest.fixture(scope="module")
def default_pipeline() -> ColourPipeline:
    return ColourPipeline(config="ocio://default")


def test_default_config_uses_scene_linear_role_and_srgb_texture(default_pipeline) -> None:
    assert default_pipeline.plate_colourspace == "ACEScg"          # the builtin config's scene_linear
    assert "sRGB" in default_pipeline.model_colourspace and "Display" not in default_pipeline.model_colourspace


def test_linear_rec709_plate_matches_the_srgb_formula() -> None:
    pipe = ColourPipeline(plate_colourspace="Linear Rec.709 (sRGB)", config="ocio://default")
    lin = np.linspace(0.0, 1.0, 301, dtype=np.float32)
    rgb = np.stack([lin, lin[::-1], np.full_like(lin, 0.18)], axis=-1)[None]
    np.testing.assert_allclose(pipe.to_model(rgb), _srgb_encode(rgb), atol=2e-5)
    assert pipe.to_model(np.array([[0.18, 0.18, 0.18]], np.float32))[0, 0] == pytest.approx(0.46135, abs=1e-4)


def test_round_trip_in_gamut_is_exact(default_pipeline) -> None:
    rng = np.random.default_rng(0)
    model = rng.random((256, 256, 3), dtype=np.float32)          # any sRGB-encoded value is in gamut
    linear = default_pipeline.to_linear(model)
    assert np.abs(default_pipeline.to_model(linear) - model).max() < 1e-4
    again = default_pipeline.to_linear(default_pipeline.to_model(linear))
    assert np.abs(again - linear).max() < 1e-4


def test_to_model_clamps_and_zeroes_non_finite(default_pipeline) -> None:
    rgb = np.array([[[np.nan, np.inf, -np.inf], [8.0, 8.0, 8.0], [-1.0, -1.0, -1.0], [0.2, 0.2, 0.2]]], np.float32)
    out = default_pipeline.to_model(rgb)
    assert out.dtype == np.float32 and out.shape == rgb.shape
    np.testing.assert_array_equal(out[0, 0], 0.0)
    np.testing.assert_array_equal(out[0, 1], 1.0)
    np.testing.assert_array_equal(out[0, 2], 0.0)
    assert 0.0 < out[0, 3, 0] < 1.0
    u8 = default_pipeline.to_uint8(rgb)
    assert u8.dtype == np.uint8 and u8[0, 0].tolist() == [0, 0, 0] and u8[0, 1].tolist() == [255, 255, 255]
    assert np.isnan(rgb[0, 0, 0])                                # callers' arrays are not modified


def test_large_frames_split_across_threads_give_the_same_result() -> None:
    rng = np.random.default_rng(1)
    frame = (rng.random((300, 400, 3), dtype=np.float32) * 2.0)
    one = ColourPipeline(config="ocio://default", threads=1)
    two = ColourPipeline(config="ocio://default", threads=2)
    np.testing.assert_array_equal(one.to_model(frame), two.to_model(frame))
    np.testing.assert_array_equal(one.to_linear(frame / 2), two.to_linear(frame / 2))


def test_ocio_environment_variable_selects_the_config(tmp_path: Path, monkeypatch) -> None:
    import PyOpenColorIO as ocio

    config = ocio.Config.CreateFromFile("ocio://default")
    config.setRole("scene_linear", "Linear Rec.709 (sRGB)")
    path = tmp_path / "studio.ocio"
    path.write_text(config.serialize())
    monkeypatch.setenv("OCIO", str(path))
    pipe = ColourPipeline()
    assert pipe.plate_colourspace == "Linear Rec.709 (sRGB)"
    assert pipe.to_model(np.array([[0.18, 0.18, 0.18]], np.float32))[0, 0] == pytest.approx(0.46135, abs=1e-4)


def test_bad_config_or_colourspace_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FaceplateError) as err:
        ColourPipeline(plate_colourspace="No Such Space", config="ocio://default")
    assert "No Such Space" in str(err.value) and "\n" not in str(err.value)
    missing = tmp_path / "missing.ocio"
    with pytest.raises(FaceplateError) as err:
        ColourPipeline(config=str(missing))
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
