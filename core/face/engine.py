"""The v2 classical engine: the source person playing the actor's performance.

Per face and frame: the library frame chosen in analyze (or the nearest one) is warped onto the
actor's landmarks moved toward the source person's proportions (likeness; per measure the median
over the library's frames, so one frame's expression is not taken for the face), with the 3-D-aware
piecewise-affine warp (triangles facing away or folding are not drawn, grazing ones fade to the
plate). Only skin that is visible on BOTH sides is pasted (the source's hairline, warped, and the
actor's, found in the plate). The actor's eyes and mouth (lids, iris, lips, teeth) come from the
plate, moved with the likeness and blended into the source's skin in linear light.

The result follows swap.py's contract: ``delta`` and ``coverage`` in the ROI, square pixels.
Nothing here depends on any other frame: chunked renders stay byte-identical.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import cv2
import numpy as np

from faceplate.core.errors import FaceplateError
from faceplate.core.face import delight, likeness, regions, selection, warp3d
from faceplate.core.face.expression import measure

ENGINE_NAME = "classical"          # the classical family; ENGINE_VERSION tells v2 apart in provenance
# goes into every output's provenance: raised whenever v2's pixels change, so --resume re-renders
# frames an older engine wrote (3: the source still's speculars out, its outline trimmed; 4: colour and
# relight from the tone analyze smoothed, eyes/mouth shares decided in analyze; 5: an object held to
# the source's chin cut from its skin, library switches dissolved, likeness fading on turned heads,
# the plate's shadow colour, softness matched to the plate's detail without its grain; 6: the source's
# silhouette without its backdrop, the likeness toward the library's median proportions, the blend's
# broad bands weighted by the matte; 7: the eye line's height no longer carried by the likeness;
# 8: the source's brow points lifted onto raised brows, the likeness toward the source's resting brows)
ENGINE_VERSION = "classical/8"


@dataclass
class EngineSettings:
    likeness: float = 0.5          # 0 = the actor's proportions, 1 = the source's
    source_features: float = 1.0   # share of an eye/mouth taken from the source where its state matches
    forehead: float = 0.3          # forehead lift of the target's region (brow-to-chin heights)
    source_forehead: float = 0.45  # how far up the source's own skin is looked for


@dataclass
class _Prepared:
    image: np.ndarray      # linear RGB, the source face with a margin
    skin: np.ndarray       # (h, w) source's own visible skin 0..1
    mesh: np.ndarray       # (105, 2) mesh vertices in ``image`` pixels
    rotation: np.ndarray
    size: float


def _srgb_to_linear(rgb01: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(rgb01, np.float32), 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _luma(x: np.ndarray) -> np.ndarray:
    return x[..., 0] * 0.2126 + x[..., 1] * 0.7152 + x[..., 2] * 0.0722


class FaceEngine:
    """Library-driven classical swapper (see module doc). ``library`` is a SourceLibrary."""

    name = ENGINE_NAME
    sha256 = ENGINE_VERSION
    needs_embedding = False
    uses_source_frame = True

    def __init__(self, library: Any, settings: Optional[EngineSettings] = None,
                 linear_images: Optional[dict] = None):
        if library is None or not getattr(library, "frames", None):
            raise FaceplateError("the classical engine needs a source: pass --source actor.jpg (stills, a "
                                 "sequence with #### or a clip)")
        self.library = library
        self.settings = settings or EngineSettings()
        self.linear_images = dict(linear_images or {})
        self.triangles = warp3d.triangles(warp3d.mesh_points(warp3d.MEAN_SHAPE_3D[:, :2]))
        self._cache: "OrderedDict[int, _Prepared]" = OrderedDict()
        self._tones: dict[int, Any] = {}   # library frame -> its skin tone (analyze/tone), measured once
        self._person: Optional[dict[str, float]] = None   # the source's proportions (``person_proportions``)

    @classmethod
    def from_source_face(cls, source: Any, settings: Optional[EngineSettings] = None) -> "FaceEngine":
        """The engine on swap.SourceFace (one linear photo + landmarks), as render's default path gives."""
        from faceplate.core.face import source_library
        if source.image_linear is None or source.landmarks is None:
            raise FaceplateError("the classical engine needs a source photo: pass --source actor.jpg "
                                 "(an embedding alone only drives neural swappers)")
        lib = source_library.from_image(None, source.landmarks, sha256=source.sha256)
        lib._images.clear()
        return cls(lib, settings, {0: np.asarray(source.image_linear, np.float32)})

    # -------------------------------------------------------------------------------- source side

    def _prepare(self, k: int, colour: Any) -> _Prepared:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        lf = self.library.frames[k]
        if k in self.linear_images:
            img = self.linear_images[k]
        else:
            rgb01 = self.library.image_rgb01(k)
            img = colour.to_linear(rgb01) if colour is not None else _srgb_to_linear(rgb01)
        img = np.nan_to_num(np.asarray(img, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lm = np.asarray(lf.landmarks, np.float64)
        size = regions.face_size(lm)
        mesh = warp3d.mesh_points(lm)
        x0, y0 = np.floor(mesh.min(axis=0) - 0.1 * size).astype(int)
        x1, y1 = np.ceil(mesh.max(axis=0) + 0.1 * size).astype(int)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, img.shape[1] - 1), min(y1, img.shape[0] - 1)
        image = np.ascontiguousarray(img[y0:y1 + 1, x0:x1 + 1])
        off = np.array([x0, y0], np.float64)
        skin = regions.fade_at_cut(regions.visible_skin(image, lm - off, self.settings.source_forehead),
                                   lm - off, self.settings.source_forehead)
        # the still's backdrop and hair inside the landmark hull along its outline are not its skin
        skin = regions.trim_silhouette(skin, image, lm - off, self.settings.source_forehead)
        # the still's own speculars out: the plate's light must own the face
        image = delight.delight(image, skin, lm - off)
        # its silhouette pixels without their backdrop: at a faint matte they would still show it
        image = delight.extend_skin(image, skin, size)
        pose = warp3d.estimate_pose(lm)
        prepared = _Prepared(image, skin, mesh - off, pose[1], size)
        self._cache[k] = prepared
        while len(self._cache) > 16:
            self._cache.popitem(last=False)
        return prepared

    def person_proportions(self) -> dict[str, float]:
        """The source person's inner-face proportions (``likeness.proportions``): per measure, the
        median over the library's frames; for the brows' height, their resting height (a low
        quantile). A raised brow, a smile or an open mouth in the frame chosen is expression, not
        the person's face; and the likeness does not jump where the chosen library frame switches."""
        if self._person is None:
            per = []
            for f in self.library.frames:
                lm = np.asarray(f.landmarks, np.float64)
                per.append(likeness.proportions(lm, warp3d.estimate_pose(lm)))
            self._person = {k: float(np.median([p[k] for p in per])) for k in per[0]}
            self._person["brow_height"] = likeness.resting_brow_height([p["brow_height"] for p in per])
        return self._person

    def _source_tone(self, k: int, src: _Prepared) -> Any:
        """The library frame's skin tone, measured like the plate's (``analyze/tone``) in its aligned
        square, on its own visible skin: once per frame, whatever the plate does."""
        if k not in self._tones:
            from faceplate.core.analyze import occlusion, tone
            lm = src.mesh[:68]   # mesh_points starts with the 68 landmarks
            face = occlusion.aligned_face(src.image, lm)
            skin = occlusion.aligned_face(src.skin, lm)
            self._tones[k] = tone.measure(face, lm, covered=skin < 0.5)
        return self._tones[k]

    def choose(self, landmarks68: np.ndarray, source_frame: Optional[int]) -> int:
        if source_frame is not None and 0 <= int(source_frame) < len(self.library.frames):
            return int(source_frame)
        return selection.nearest(measure(landmarks68), self.library)

    # -------------------------------------------------------------------------------- per frame

    def swap(self, crop_linear: np.ndarray, landmarks68: np.ndarray, points5: np.ndarray, colour: Any = None,
             latent: Any = None, face_matte: Optional[np.ndarray] = None, colour_match_on: bool = True,
             source_frame: Optional[int] = None, tone: Optional[np.ndarray] = None,
             tone_frame: Optional[np.ndarray] = None, shares: Optional[np.ndarray] = None,
             source_mix: Optional[tuple[int, float]] = None) -> Any:
        """``tone``: the track entry's plate skin tone (analyze/tone, smoothed over the shot), used
        for the colour gains and relighting instead of this frame's pixels; ``tone_frame`` (2, 3)
        maps ``crop_linear``'s pixels into the aligned square it was measured in (default: from
        ``landmarks68``). ``shares``: the entry's (3,) shares of the source's eyes and mouth, chosen
        and smoothed over the shot in analyze (``selection.feature_shares``); without them this
        frame's states are compared. ``source_mix``: (library frame, weight) dissolved over
        ``source_frame``'s swap around a switch of library frame (``selection.switch_dissolves``)."""
        from faceplate.core.types import SwapResult as Result

        args = dict(colour=colour, latent=latent, face_matte=face_matte, colour_match_on=colour_match_on,
                    tone=tone, tone_frame=tone_frame, shares=shares)
        weight = 0.0 if source_mix is None else float(np.clip(source_mix[1], 0.0, 1.0))
        if weight > 0.0 and 0 <= int(source_mix[0]) < len(self.library.frames):
            # a dissolve of the two whole swaps, matte-weighted (premultiplied), in linear light
            a = self.swap(crop_linear, landmarks68, points5, source_frame=source_frame, **args)
            b = self.swap(crop_linear, landmarks68, points5, source_frame=int(source_mix[0]), **args)
            coverage = (1.0 - weight) * a.coverage + weight * b.coverage
            mixed = ((1.0 - weight) * a.coverage[..., None] * a.delta + weight * b.coverage[..., None] * b.delta)
            delta = np.where((coverage > 0)[..., None], mixed / np.maximum(coverage, 1e-6)[..., None], 0.0)
            return Result(delta.astype(np.float32), coverage.astype(np.float32))
        from faceplate.core.render.colour_match import match_tone, relight_tone
        from faceplate.core.render.engines.classical import colour_match, relight

        s = self.settings
        h, w = crop_linear.shape[:2]
        crop = np.nan_to_num(crop_linear.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lm_t = np.asarray(landmarks68, np.float64).reshape(68, 2)
        size = regions.face_size(lm_t)
        k = self.choose(lm_t, source_frame)
        src = self._prepare(k, colour)
        pose_t = warp3d.estimate_pose(lm_t)
        lm_goal = likeness.adjust(lm_t, self.person_proportions(), s.likeness, pose_t)
        dst_mesh = warp3d.mesh_points(lm_goal)
        src_img, src_skin, src_mesh = src.image, src.skin, src.mesh
        scale = size / src.size
        if scale < 0.8:  # pre-shrink: remap alone would alias when minifying
            sw, sh = max(int(round(src_img.shape[1] * scale)), 1), max(int(round(src_img.shape[0] * scale)), 1)
            f = np.array([sw / src_img.shape[1], sh / src_img.shape[0]])
            src_img = cv2.resize(src_img, (sw, sh), interpolation=cv2.INTER_AREA)
            src_skin = cv2.resize(src_skin, (sw, sh), interpolation=cv2.INTER_AREA)
            src_mesh = (src_mesh + 0.5) * f - 0.5
        vis = warp3d.visibility_weights(dst_mesh, src_mesh, self.triangles, pose_t[1], src.rotation)
        map_x, map_y, weight = warp3d.piecewise_map(dst_mesh, src_mesh, self.triangles, (h, w), vis)
        drawn = weight > 0
        empty = Result(np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32))
        if not drawn.any():
            return empty
        # per-triangle weights are steps: a wide blur turns them into a smooth fade (no faceted matte)
        soft = cv2.GaussianBlur(weight, (0, 0), max(0.04 * size, 0.5)) * drawn
        warped = cv2.remap(src_img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        skin_src = cv2.remap(src_skin, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0.0) * soft
        skin_tgt = regions.visible_skin(crop, lm_t, s.forehead)
        plate = self._plate_moved(crop, lm_t, lm_goal)
        share = float(np.clip(s.source_features, 0.0, 1.0))
        if shares is None:
            shares = selection.feature_matches(self.library.frames[k].expression, measure(lm_t, crop))
        matches = np.clip(np.asarray(shares, np.float64).reshape(3), 0.0, 1.0) * share
        feature_regions = regions.feature_masks(lm_goal, (h, w))
        features = np.max(np.stack([m * (1.0 - a) for m, a in zip(feature_regions, matches)]), axis=0)
        where = (skin_src > 0.5) & (skin_tgt > 0.5) & (features < 0.05)
        if face_matte is not None:
            where &= face_matte > 0.5
        src_tone = self._source_tone(k, src) if colour_match_on and tone is not None else None
        if src_tone is not None:   # both sides' statistics fixed per entry / library frame: no breathing
            from faceplate.core.analyze.occlusion import aligned_transform
            from faceplate.core.analyze.tone import unpack
            plate_tone = unpack(tone)
            to_aligned = aligned_transform(lm_t) if tone_frame is None else tone_frame
            warped = match_tone(warped, src_tone, plate_tone)
            # the source's skin less all its features, as the plate's tone was measured (fixed per frame)
            bare = skin_src * (np.max(np.stack(feature_regions), axis=0) < 0.05)
            warped = relight_tone(warped, bare, plate_tone, to_aligned, size)
        elif colour_match_on:
            warped = colour_match(warped, crop, where)
            warped = relight(warped, crop, where, size)
        warped = _match_shading_near(warped, plate, features, where, size)
        skin_w = skin_src * (1.0 - features)
        alpha = np.clip(skin_w + features * drawn, 0.0, 1.0)
        out = (warped * skin_w[..., None] + plate * (features * drawn)[..., None]) / np.maximum(alpha, 1e-6)[..., None]
        coverage = alpha * skin_tgt
        coverage[coverage < 1e-3] = 0.0
        delta = np.where((coverage > 0)[..., None], out - crop, 0.0).astype(np.float32)
        return Result(delta, coverage.astype(np.float32))

    def _plate_moved(self, crop: np.ndarray, lm_t: np.ndarray, lm_goal: np.ndarray) -> np.ndarray:
        """The plate resampled so its eyes and mouth sit where the likeness moved them."""
        if np.allclose(lm_t, lm_goal):
            return crop
        h, w = crop.shape[:2]
        mx, my, wt = warp3d.piecewise_map(warp3d.mesh_points(lm_goal), warp3d.mesh_points(lm_t), self.triangles,
                                          (h, w))
        moved = cv2.remap(crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return np.where((wt > 0)[..., None], moved, crop)


def _match_shading_near(warped: np.ndarray, plate: np.ndarray, features: np.ndarray, where: np.ndarray,
                        size: float) -> np.ndarray:
    """Give the source skin next to the eyes and mouth the plate's local brightness there, so the
    kept features sit in skin of their own shading (no halo where plate lids meet source skin)."""
    core = features > 0.5
    if not core.any():
        return warped
    r = max(int(round(0.06 * size)), 1)
    ring = (cv2.dilate(core.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
            > 0) & ~core & where
    if ring.sum() < 16:
        return warped
    sigma = max(0.05 * size, 1.0)
    ring_f = ring.astype(np.float32)
    norm = cv2.GaussianBlur(ring_f, (0, 0), sigma) + 1e-6
    lo_plate = cv2.GaussianBlur(_luma(np.maximum(plate, 0.0)) * ring_f, (0, 0), sigma) / norm
    lo_swap = cv2.GaussianBlur(_luma(np.maximum(warped, 0.0)) * ring_f, (0, 0), sigma) / norm
    gain = np.clip((lo_plate + 1e-4) / (lo_swap + 1e-4), 0.5, 2.0)
    near = np.clip(cv2.GaussianBlur((features > 0.05).astype(np.float32), (0, 0), 1.5 * sigma) * 2.0, 0.0, 1.0)
    return (warped * (1.0 + (gain - 1.0) * near)[..., None]).astype(np.float32)


def engine_for(source: Any, likeness_strength: float = 0.5, source_features: float = 1.0,
               forehead: float = 0.3) -> FaceEngine:
    """The v2 engine for a swap.SourceFace: its library (stills/clips) when it has one, else its photo."""
    settings = EngineSettings(likeness=likeness_strength, source_features=source_features, forehead=forehead)
    library = getattr(source, "library", None)
    if library is not None:
        return FaceEngine(library, settings)
    return FaceEngine.from_source_face(source, settings)
