"""Plain data passed between the stages (analyze -> track file -> render).

Coordinates: plate pixel coordinates, x right, y down, stored (squeezed) pixels, absolute EXR pixel
space (see docs/INTERFACES.md). Arrays are float64 unless a field says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Protocol, Union, get_args

import numpy as np


@dataclass(frozen=True, eq=False)
class Detection:
    """One face: box (4,) x0,y0,x1,y1 and points5 (5,2) in plate pixel coords (ArcFace order)."""

    box: np.ndarray
    points5: np.ndarray
    score: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", np.asarray(self.box, dtype=np.float64).reshape(4))
        object.__setattr__(self, "points5", np.asarray(self.points5, dtype=np.float64).reshape(5, 2))
        object.__setattr__(self, "score", float(self.score))

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def transformed(self, scale: float, offset: tuple[float, float] = (0.0, 0.0)) -> "Detection":
        """Map from a scaled/cropped image back: p_out = (p + 0.5) / scale - 0.5 + offset.

        Pixel centres sit at integer coordinates (INTERFACES.md), and cv2.resize maps centre to
        centre, so a plain ``p / scale`` would be biased by half a pixel times (1/scale - 1).
        """
        off = np.asarray(offset, dtype=np.float64)
        box = (self.box + 0.5) / scale - 0.5 + np.concatenate([off, off])
        return Detection(box, (self.points5 + 0.5) / scale - 0.5 + off, self.score)


class Detector(Protocol):
    """What detect_faces needs. ``face_range`` (min, max face width in input pixels the network
    finds reliably) and ``tile_size`` (fixed network input side, or None) are optional hints."""

    name: str
    sha256: str

    def detect(self, image_rgb: np.ndarray) -> list[Detection]: ...


class Landmarker(Protocol):
    """68 iBUG points (image pixels) for a detected face."""

    name: str
    sha256: str

    def landmarks(self, image_rgb: np.ndarray, detection: Detection) -> np.ndarray: ...


class Recognizer(Protocol):
    """An identity embedding, (dim,) float32 L2-normalised, from a face's 5 points."""

    name: str
    sha256: str
    dim: int

    def embed(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray: ...


EntrySource = Literal["detected", "interpolated", "manual"]   # how a track entry came to be
SOURCES: tuple[str, ...] = get_args(EntrySource)
Role = Literal["detector", "landmarker", "recognizer", "swapper", "parser"]   # a model's job
MaskMode = Literal["hull", "aligned", "parser"]                                # render --mask


N_LANDMARKS = 68


PathLike = Union[str, Path]


@dataclass
class FaceEntry:
    """One face in one frame. Plain fields are smoothed (what render uses); ``*_raw`` are measured.

    box: (4,) float64 x0, y0, x1, y1; points5: (5, 2) ArcFace order; landmarks: (68, 2) iBUG-68.
    """
    frame: int
    source: EntrySource
    score: float
    box: np.ndarray
    box_raw: np.ndarray
    points5: np.ndarray
    points5_raw: np.ndarray
    landmarks: np.ndarray
    landmarks_raw: np.ndarray
    source_frame: Optional[int] = None   # engine v2: library frame chosen in analyze (core/face/selection)
    occlusion: Optional[str] = None      # analyze/occlusion: "<N>:<base64>" mask in the aligned square, None = clear
    grain: Optional[np.ndarray] = None   # (9,) plate grain around the face, smoothed (render/grain.pack_grain)
    tone: Optional[np.ndarray] = None    # (70,) plate skin tone around the face, smoothed (analyze/tone.pack)
    gaze: Optional[np.ndarray] = None    # (2,) iris offset / eye width (x, y) measured on the plate (face/expression)
    features: Optional[np.ndarray] = None  # (3,) engine v2: how far the source's [left eye, right eye, mouth]
    #                                        stand in for the actor's, chosen in analyze and smoothed (face/selection)
    source_mix: Optional[tuple[int, float]] = None  # engine v2: (library frame, weight 0..1) dissolved over
    #                                        ``source_frame`` around a switch of library frame (face/selection)
    texture: Optional[np.ndarray] = None  # (5,) the plate skin's texture amplitude per octave band, smoothed
    #                                        (render/texture.plate_texture)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FaceEntry):
            return NotImplemented
        return (self.frame == other.frame and self.source == other.source and self.score == other.score
                and self.source_frame == other.source_frame and self.occlusion == other.occlusion
                and _same_optional(self.grain, other.grain) and _same_optional(self.tone, other.tone)
                and _same_optional(self.gaze, other.gaze) and _same_optional(self.features, other.features)
                and self.source_mix == other.source_mix and _same_optional(self.texture, other.texture)
                and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in _ARRAY_FIELDS))


_ARRAY_FIELDS = ("box", "box_raw", "points5", "points5_raw", "landmarks", "landmarks_raw")


def _same_optional(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
    return (a is None) == (b is None) and (a is None or np.array_equal(a, b))


@dataclass
class Track:
    """One person through the shot: id, mean L2-normalised identity embedding (D,) float32, entries."""
    id: int
    embedding: np.ndarray
    entries: dict[int, FaceEntry] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Track):
            return NotImplemented
        return (self.id == other.id and np.array_equal(self.embedding, other.embedding)
                and self.entries == other.entries)

    @property
    def frames(self) -> list[int]:
        return sorted(self.entries)


@dataclass
class PlateInfo:
    """The plate a track file was made from (first frame's geometry)."""
    pattern: str
    first: int
    last: int
    step: int
    width: int
    height: int
    pixel_aspect: float
    data_window: tuple[int, int, int, int]
    display_window: tuple[int, int, int, int]
    layer: Optional[str]
    colourspace: Optional[str]
    fingerprint: str


@dataclass
class TrackFile:
    plate: PlateInfo
    models: dict[str, Any]
    settings: dict[str, Any]
    cuts: list[int]
    tracks: list[Track]
    faceplate_version: str = "0.1.0"

    def track(self, track_id: int) -> Track:
        for t in self.tracks:
            if t.id == track_id:
                return t
        raise KeyError(track_id)


@dataclass(frozen=True)
class Window:
    """EXR-style inclusive pixel box in absolute plate coordinates."""

    xmin: int
    ymin: int
    xmax: int
    ymax: int

    @property
    def width(self) -> int:
        return self.xmax - self.xmin + 1

    @property
    def height(self) -> int:
        return self.ymax - self.ymin + 1

    def as_list(self) -> list[int]:
        return [self.xmin, self.ymin, self.xmax, self.ymax]


@dataclass
class PlateFrame:
    """One frame: every channel as float32 ``(H, W, C)`` over the data window, plus its header."""

    pixels: np.ndarray
    channels: tuple[str, ...]
    channel_formats: tuple[str, ...]
    rgb: tuple[int, int, int]
    data_window: Window
    display_window: Window
    pixel_aspect: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = None
    frame: Optional[int] = None
    # OIIO TypeDesc of each metadata entry as read, so write_exr stores the same attribute
    # types (rational, timecode, matrix...). Entries added by callers are typed by value.
    metadata_types: dict[str, Any] = field(default_factory=dict, repr=False)
    # (width, height) of the file's tiles, None for scanline files: write_exr writes the same layout.
    tile_size: Optional[tuple[int, int]] = None

    def rgb_pixels(self) -> np.ndarray:
        """The face-relevant RGB channels as a new ``(H, W, 3)`` float32 array."""
        return np.ascontiguousarray(self.pixels[..., list(self.rgb)])

    def copy(self) -> "PlateFrame":
        return PlateFrame(self.pixels.copy(), self.channels, self.channel_formats, self.rgb,
                          self.data_window, self.display_window, self.pixel_aspect,
                          dict(self.metadata), self.path, self.frame, dict(self.metadata_types), self.tile_size)


@dataclass
class SwapResult:
    delta: np.ndarray      # (h, w, 3) float32 linear change, 0 where coverage == 0
    coverage: np.ndarray   # (h, w) float32 0..1, where the engine produced an image


@dataclass
class SourceFace:
    """The source identity: a face photo (linear light) and/or an identity embedding."""
    image_linear: Optional[np.ndarray] = None   # (H, W, 3) float32 scene-linear, square pixels
    landmarks: Optional[np.ndarray] = None      # (68, 2) in image_linear's pixels
    embedding: Optional[np.ndarray] = None      # (D,) float32 L2-normalised
    sha256: str = ""                            # hash of the source files (provenance)
    images: list = field(default_factory=list)  # file names, for messages
    library: Any = None                         # engine v2: core.face SourceLibrary (stills, sequences, clips)
