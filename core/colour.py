"""Colour: scene-linear plate RGB <-> the display-referred sRGB-encoded space face models expect.

Model space choice: the config's *sRGB-encoded Rec.709 texture* colourspace ("sRGB - Texture",
alias "srgb_tx" in the OCIO builtin configs), i.e. a primaries matrix plus the sRGB piecewise
curve, clamped to 0..1. Not a display *view* (ACES output transform): that tone-maps, has no
exact inverse, and would change the face's brightness relationship to the plate. The plain
encoding is what photo-trained models saw, and its exact inverse lets the swap go back to linear
and be composited as a delta, leaving highlights the model did not touch intact.

Speed (bench/plate_colour_speed.py, 2 cores, idle machine): a 2048x1080 frame converts in about
35-50 ms with the rows split over 2 threads (about 70-80 ms on one); face crops take well under 5 ms.
"""
from __future__ import annotations

import os
import threading
from typing import Optional

import numpy as np
from faceplate.core.errors import FaceplateError

# Rec.709 / sRGB luminance weights for linear RGB (float64; ``.astype(np.float32)`` gives the same
# float32 values as writing them as float32 literals).
LUMA_709 = np.array([0.2126, 0.7152, 0.0722])

BUILTIN_CONFIG = "ocio://default"
# Candidate names of an sRGB-encoded Rec.709 colourspace across common configs (aliases first).
MODEL_COLOURSPACE_CANDIDATES = (
    "sRGB - Texture", "srgb_tx", "sRGB Encoded Rec.709 (sRGB)", "Utility - sRGB - Texture",
    "Input - Generic - sRGB - Texture", "sRGB", "srgb", "sRGB (~2.2)",
)
# Below this many pixels threading costs more than it saves.
_PARALLEL_MIN_PIXELS = 1 << 16


class ColourPipeline:
    """OCIO conversions for one (config, plate colourspace); processors are built once per instance."""

    def __init__(self, plate_colourspace: Optional[str] = None, config: Optional[str] = None,
                 model_colourspace: Optional[str] = None, threads: Optional[int] = None):
        import PyOpenColorIO as ocio  # lazy: keeps CLI registration cheap

        source = config or os.environ.get("OCIO") or BUILTIN_CONFIG
        try:
            self.config = ocio.Config.CreateFromFile(source)
        except Exception as exc:  # OCIO raises its generic Exception type
            raise FaceplateError(f"cannot load OCIO config {source} ({str(exc).splitlines()[0]}); "
                                 f"fix $OCIO or pass a valid config path") from None
        self.config_name = source
        if plate_colourspace is None:
            plate_colourspace = "scene_linear"
        cs = self.config.getColorSpace(plate_colourspace)
        if cs is None:
            raise FaceplateError(f"colourspace {plate_colourspace!r} is not in OCIO config {source}; "
                                 f"choose one of: {', '.join(self._names()[:12])}...")
        self.plate_colourspace = cs.getName()
        if model_colourspace is None:
            found = next((self.config.getColorSpace(n) for n in MODEL_COLOURSPACE_CANDIDATES
                          if self.config.getColorSpace(n) is not None), None)
            if found is None:
                raise FaceplateError(f"OCIO config {source} has no sRGB texture colourspace (e.g. 'sRGB - Texture'); "
                                     f"pass model_colourspace explicitly")
        else:
            found = self.config.getColorSpace(model_colourspace)
            if found is None:
                raise FaceplateError(f"colourspace {model_colourspace!r} is not in OCIO config {source}; "
                                     f"choose one of: {', '.join(self._names()[:12])}...")
        self.model_colourspace = found.getName()
        self._forward = self.config.getProcessor(self.plate_colourspace, self.model_colourspace).getDefaultCPUProcessor()
        self._inverse = self.config.getProcessor(self.model_colourspace, self.plate_colourspace).getDefaultCPUProcessor()
        self.threads = max(1, int(threads or min(os.cpu_count() or 1, 8)))

    def _names(self) -> list[str]:
        return [c.getName() for c in self.config.getColorSpaces()]

    def __repr__(self) -> str:
        return (f"ColourPipeline(config={self.config_name!r}, plate={self.plate_colourspace!r}, "
                f"model={self.model_colourspace!r})")

    def _apply(self, processor, rgb: np.ndarray, clip_in: bool, posinf: float) -> np.ndarray:
        """A new float32 (..., 3) array: non-finite replaced, ``processor`` applied, clipped to 0..1
        after (and before, if ``clip_in``); row chunks run in parallel threads."""
        rgb = np.asarray(rgb)
        if rgb.shape[-1:] != (3,):
            raise ValueError(f"expected (..., 3) RGB, got shape {rgb.shape}")
        out = np.array(rgb, dtype=np.float32, order="C", copy=True)
        flat = out.reshape(-1, 3)

        def work(chunk: np.ndarray) -> None:
            np.nan_to_num(chunk, copy=False, nan=0.0, posinf=posinf, neginf=0.0)
            if clip_in:
                np.clip(chunk, 0.0, 1.0, out=chunk)
            processor.applyRGB(chunk)
            if not clip_in:
                np.clip(chunk, 0.0, 1.0, out=chunk)

        n = flat.shape[0]
        if n < _PARALLEL_MIN_PIXELS or self.threads == 1:
            if n:
                work(flat)
            return out
        # OCIO and numpy release the GIL while processing: chunks run truly in parallel.
        chunks = np.array_split(flat, self.threads, axis=0)
        workers = [threading.Thread(target=work, args=(c,)) for c in chunks[1:]]
        for w in workers:
            w.start()
        work(chunks[0])
        for w in workers:
            w.join()
        return out

    def to_model(self, linear_rgb: np.ndarray) -> np.ndarray:
        """Plate-space RGB (..., 3) -> sRGB-encoded float32 clamped to [0, 1]; NaN/Inf become 0."""
        return self._apply(self._forward, linear_rgb, clip_in=False, posinf=0.0)

    def to_linear(self, model_rgb: np.ndarray) -> np.ndarray:
        """sRGB-encoded (..., 3) -> plate-space float32; the exact inverse of to_model on 0..1
        (inputs are clamped to 0..1 first, NaN -> 0)."""
        return self._apply(self._inverse, model_rgb, clip_in=True, posinf=1.0)

    def to_uint8(self, linear_rgb: np.ndarray) -> np.ndarray:
        """Plate-space RGB -> sRGB uint8 for detectors and previews (NaN/Inf -> 0)."""
        return np.rint(self.to_model(linear_rgb) * 255.0).astype(np.uint8)

    def from_uint8(self, srgb_uint8: np.ndarray) -> np.ndarray:
        """sRGB uint8 (e.g. a photo) -> plate-space float32 RGB."""
        return self.to_linear(np.asarray(srgb_uint8, dtype=np.float32) / 255.0)
