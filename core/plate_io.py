"""Plate sequences: read and write image frames (EXR first, anything OpenImageIO reads) and video.

Conventions (docs/INTERFACES.md): a frame's ``pixels`` cover its *data window*; element
``pixels[r, c]`` is the pixel at absolute ``(data_window.xmin + c, data_window.ymin + r)``,
y down. Every channel of the file is kept (float32 in memory) together with its on-disk
format, so ``write_exr(read_image(p))`` gives back bit-identical pixel data (half -> float32
-> half is exact) with the same channels, windows, pixel aspect and header attributes.
"""
from __future__ import annotations

import logging
import os
import queue
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from faceplate.core.errors import PlateError
from faceplate.core.filesystem import atomic_path, sha256_bytes

log = logging.getLogger(__name__)

# Header attributes that OIIO derives from the file structure or that PlateFrame holds as
# fields: they are not copied into ``metadata`` (writing them back would be wrong or redundant).
_DERIVED_ATTRIBUTES = frozenset({
    "oiio:subimages", "oiio:RowsPerChunk", "PixelAspectRatio",
})
# EXR compressions that change pixel values on re-encoding; write_exr swaps them for zip so
# untouched pixels stay bit-identical (the original name is kept in metadata for the record).
_LOSSY_COMPRESSIONS = ("dwaa", "dwab", "b44", "b44a")
# Formats EXR can store; anything else (8/16-bit from PNG/TIFF/DPX) is written as half/float.
_EXR_FORMATS = {"half": "half", "float": "float", "uint": "uint", "uint32": "uint",
                "uint8": "half", "int8": "half", "uint16": "float", "int16": "float",
                "double": "float", "int": "float", "int32": "float"}
_RGB_NAMES = (("R", "red", "r"), ("G", "green", "g"), ("B", "blue", "b"))
READ_AHEAD = 3  # frames decoded ahead of the consumer by PlateSequence iteration


def _oiio():
    import OpenImageIO as oiio  # lazy: keeps `faceplate --help` cheap
    return oiio


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


# --------------------------------------------------------------------------- frame numbers

_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:[x:]\s*(\d+))?)?\s*$")


def parse_frames(spec: str) -> list[int]:
    """``"1001-1100"``, ``"1001-1100x2"``, ``"1001,1005,1010-1012"`` -> sorted unique frames."""
    frames: set[int] = set()
    for part in str(spec).split(","):
        if not part.strip():
            continue
        match = _RANGE.match(part)
        if not match:
            raise PlateError(f"bad frame range {spec!r}: use e.g. 1001-1100, 1001-1100x2 or 1001,1005,1010-1012")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        step = int(match.group(3)) if match.group(3) is not None else 1
        if last < first or step < 1:
            raise PlateError(f"bad frame range {part.strip()!r} in {spec!r}: the range must run forward with step >= 1")
        frames.update(range(first, last + 1, step))
    if not frames:
        raise PlateError(f"empty frame range {spec!r}: use e.g. 1001-1100")
    return sorted(frames)


# A placeholder in a pattern: #### (Nuke: one digit per #), @@@@, %04d / %d.
_PLACEHOLDER = re.compile(r"#+|@+|%0?(\d*)d")


def _split_placeholder(pattern: str) -> Optional[tuple[str, int, str]]:
    """(prefix, padding, suffix) of the last placeholder in the file name, or None."""
    directory, name = os.path.split(pattern)
    matches = list(_PLACEHOLDER.finditer(name))
    if not matches:
        return None
    m = matches[-1]
    token = m.group(0)
    if token[0] in "#@":
        pad = len(token)
    else:
        pad = int(m.group(1) or 1)
    return os.path.join(directory, name[:m.start()]), pad, name[m.end():]


def sequence_path(pattern: str, frame: int) -> str:
    """Path of ``frame`` in ``pattern`` (``####``, ``@@@@``, ``%04d``); a literal path is returned as is."""
    parts = _split_placeholder(pattern)
    if parts is None:
        return pattern
    prefix, pad, suffix = parts
    return f"{prefix}{frame:0{pad}d}{suffix}"


def _literal_numbering(path: str) -> Optional[tuple[str, int, str, int]]:
    """For ``plate.1001.exr``: (prefix, padding, suffix, frame) of the last digit run in the name."""
    directory, name = os.path.split(path)
    matches = list(re.finditer(r"-?\d+", name))
    if not matches:
        return None
    m = matches[-1]
    digits = m.group(0)
    # Only a leading "-" right after a separator is a sign ("plate.-001.exr"), not "plate-1001.exr".
    if digits.startswith("-") and m.start() > 0 and name[m.start() - 1] not in "._":
        digits = digits[1:]
        start = m.start() + 1
    else:
        start = m.start()
    pad = len(digits.lstrip("-"))
    return os.path.join(directory, name[:start]), pad, name[start + len(digits):], int(digits)


def _frames_on_disk(prefix: str, pad: int, suffix: str) -> list[int]:
    directory, name_prefix = os.path.split(prefix)
    directory = directory or "."
    regex = re.compile(re.escape(name_prefix) + r"(-?\d+)" + re.escape(suffix) + r"$")
    frames = []
    try:
        entries = os.scandir(directory)
    except OSError:
        return []
    with entries:
        for entry in entries:
            m = regex.match(entry.name)
            if m and f"{int(m.group(1)):0{pad}d}" == m.group(1):  # same padding as the pattern
                frames.append(int(m.group(1)))
    return sorted(frames)


def detect_pattern(path: str) -> tuple[str, list[int]]:
    """A pattern or one frame's path -> (``plate.####.exr``-style pattern, frames found on disk).

    A path without placeholder or digits is a single still: ``(path, [])``.
    """
    path = os.fspath(path)
    parts = _split_placeholder(path)
    if parts is not None:
        prefix, pad, suffix = parts
        pattern = path
    else:
        literal = _literal_numbering(path)
        if literal is None:
            return path, []
        prefix, pad, suffix, _ = literal
        pattern = f"{prefix}{'#' * pad}{suffix}"
    return pattern, _frames_on_disk(prefix, pad, suffix)


# --------------------------------------------------------------------------- reading

def _layer_names(channels: tuple[str, ...]) -> list[str]:
    layers = []
    for name in channels:
        layer = name.rsplit(".", 1)[0] if "." in name else "(rgba)"
        if layer not in layers:
            layers.append(layer)
    return layers


def _find_rgb(channels: tuple[str, ...], layer: Optional[str], path: str) -> tuple[int, int, int]:
    prefix = "" if layer in (None, "", "rgb", "rgba") else f"{layer}."
    index = {name: i for i, name in enumerate(channels)}
    found = []
    for aliases in _RGB_NAMES:
        hit = next((index[prefix + a] for a in aliases if prefix + a in index), None)
        found.append(hit)
    if all(i is not None for i in found):
        return tuple(found)  # type: ignore[return-value]
    if prefix:
        raise PlateError(f"layer {layer!r} has no R,G,B channels in {path}; layers present: "
                         f"{', '.join(_layer_names(channels))} (pass one of them as --layer)")
    if len(channels) in (1, 2):  # grey or grey+alpha: use the grey channel for all three
        return (0, 0, 0)
    if len(channels) >= 3 and not any("." in c for c in channels[:3]):
        return (0, 1, 2)
    raise PlateError(f"no R,G,B channels in {path}; layers present: "
                     f"{', '.join(_layer_names(channels))} (pass one of them as --layer)")


def _format_name(typedesc) -> str:
    name = str(typedesc)
    return {"unsigned char": "uint8", "unsigned short": "uint16", "unsigned int": "uint",
            "char": "int8", "short": "int16"}.get(name, name)


def _channel_formats(spec) -> tuple[str, ...]:
    if spec.channelformats:
        return tuple(_format_name(t) for t in spec.channelformats)
    return (_format_name(spec.format),) * spec.nchannels


def _merge_parts(inp, spec, pixels, channels, formats, parts: int, path: str):
    """Add the channels of a multi-part EXR's other parts, placed into part 0's data window.

    Part channels without a layer prefix get the part's name ("depth" part, "Z" -> "depth.Z");
    deep parts and duplicate names are skipped. The frame is written back as one part.
    """
    names = list(channels)
    stack = [pixels]
    fmts = list(formats)
    for index in range(1, parts):
        if not inp.seek_subimage(index, 0):
            break
        part = inp.spec()
        if part.deep:
            log.warning("%s: skipping deep part %d", path, index)
            continue
        data = inp.read_image(index, 0, 0, part.nchannels, "float")
        if data is None or inp.has_error:
            err = inp.geterror().replace("\n", " ").strip() or "read failed"
            raise PlateError(f"corrupt or truncated image {path} (part {index}: {err}); re-render or re-copy this frame")
        data = np.asarray(data, np.float32).reshape(part.height, part.width, part.nchannels)
        placed = np.zeros((spec.height, spec.width, part.nchannels), np.float32)
        # Overlap of the part's data window with part 0's, in each array's own indices.
        x0, y0 = max(spec.x, part.x), max(spec.y, part.y)
        x1, y1 = min(spec.x + spec.width, part.x + part.width), min(spec.y + spec.height, part.y + part.height)
        if x1 > x0 and y1 > y0:
            placed[y0 - spec.y:y1 - spec.y, x0 - spec.x:x1 - spec.x] = \
                data[y0 - part.y:y1 - part.y, x0 - part.x:x1 - part.x]
        part_name = str(part.get_string_attribute("name", "") or f"part{index}")
        for c, (name, fmt) in enumerate(zip(part.channelnames, _channel_formats(part))):
            full = name if "." in name else f"{part_name}.{name}"
            if full in names:
                continue
            names.append(full)
            fmts.append(fmt)
            stack.append(placed[..., c:c + 1])
    inp.seek_subimage(0, 0)
    return np.concatenate(stack, axis=-1), tuple(names), tuple(fmts)


def read_image(path: str, layer: Optional[str] = None, frame: Optional[int] = None,
               rgb_only: bool = False) -> PlateFrame:
    """Read every channel of an OIIO-readable file as float32 (8/16-bit -> 0..1); the parts of a
    multi-part EXR are merged into one frame (see ``_merge_parts``).

    ``layer`` picks which channels are the face RGB (``beauty`` -> ``beauty.R/G/B``); all other
    channels are kept untouched. NaN/Inf are kept as read. ``rgb_only``: the frame holds just the
    face RGB channels (``rgb == (0, 1, 2)``), decoded without the others where the file allows:
    for analysis, which never looks at the rest.
    """
    oiio = _oiio()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise PlateError(f"plate frame missing: {path}; check the path/pattern and --frames")
    inp = oiio.ImageInput.open(path)
    if inp is None:
        err = " ".join(oiio.geterror().split()) or "unknown format"  # geterror() clears: call once
        raise PlateError(f"cannot read {path} ({err}); it is not a readable image: re-render or replace the file")
    try:
        spec = inp.spec()
        if spec.deep:
            raise PlateError(f"{path} is a deep image; faceplate needs flat frames: flatten it (e.g. DeepToImage) first")
        channels = tuple(spec.channelnames)
        formats = _channel_formats(spec)
        parts = int(spec.get_int_attribute("oiio:subimages", 1) or 1)
        if spec.depth > 1:
            raise PlateError(f"{path} is a volume image; faceplate needs 2-D frames")
        first, count, rgb_part = 0, spec.nchannels, None
        if rgb_only and parts == 1:
            rgb_part = _find_rgb(channels, layer, path)
            if list(rgb_part) == list(range(rgb_part[0], rgb_part[0] + 3)):
                first, count = rgb_part[0], 3  # decode only the R, G, B channel range
        # half files decode as half and widen in numpy (exact): cheaper than OIIO's float conversion
        half = all(f == "half" for f in formats[first:first + count])
        pixels = inp.read_image(0, 0, first, first + count, "half" if half else "float")
        if pixels is None or inp.has_error:
            err = inp.geterror().replace("\n", " ").strip() or "read failed"
            raise PlateError(f"corrupt or truncated image {path} ({err}); re-render or re-copy this frame")
        pixels = np.asarray(pixels).reshape(spec.height, spec.width, count).astype(np.float32, copy=False)
        if rgb_part is not None:
            if count == 3:
                channels, formats = channels[first:first + 3], formats[first:first + 3]
            else:
                pixels = np.ascontiguousarray(pixels[..., list(rgb_part)])
                channels = tuple(channels[i] for i in rgb_part)
                formats = tuple(formats[i] for i in rgb_part)
        elif parts > 1:
            pixels, channels, formats = _merge_parts(inp, spec, pixels, channels, formats, parts, path)
        metadata: dict[str, Any] = {}
        types: dict[str, Any] = {}
        for attrib in spec.extra_attribs:
            if attrib.name in _DERIVED_ATTRIBUTES:
                continue
            metadata[attrib.name] = attrib.value
            types[attrib.name] = attrib.type
        aspect = float(spec.get_float_attribute("PixelAspectRatio", 1.0) or 1.0)
        tile_size = (int(spec.tile_width), int(spec.tile_height)) if spec.tile_width > 0 else None
        data_window = Window(spec.x, spec.y, spec.x + spec.width - 1, spec.y + spec.height - 1)
        display_window = Window(spec.full_x, spec.full_y, spec.full_x + spec.full_width - 1,
                                spec.full_y + spec.full_height - 1)
    finally:
        inp.close()
    rgb = (0, 1, 2) if rgb_part is not None else _find_rgb(channels, layer, path)
    if rgb_only and rgb_part is None:  # multi-part file: merged above, keep the RGB only
        pixels = np.ascontiguousarray(pixels[..., list(rgb)])
        channels = tuple(channels[i] for i in rgb)
        formats = tuple(formats[i] for i in rgb)
        rgb = (0, 1, 2)
    return PlateFrame(pixels=pixels, channels=channels, channel_formats=formats, rgb=rgb,
                      data_window=data_window, display_window=display_window, pixel_aspect=aspect,
                      metadata=metadata, path=path, frame=frame, metadata_types=types, tile_size=tile_size)


# --------------------------------------------------------------------------- writing

def write_exr(path: str, frame: PlateFrame, extra_metadata: Optional[dict] = None,
              compression: Optional[str] = None) -> None:
    """Write ``frame`` as an EXR atomically: same channels, per-channel formats, windows,
    pixel aspect and header attributes, plus ``extra_metadata`` (e.g. ``faceplate/version``).

    ``compression`` overrides the header's; lossy ones (DWA, B44) are replaced by zip unless
    asked for explicitly, so untouched pixels stay bit-identical to the plate. No wall-clock
    time is added: the same frame and metadata always give a byte-identical file.
    """
    oiio = _oiio()
    pixels = np.asarray(frame.pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, c = pixels.shape
    if (w, h) != (frame.data_window.width, frame.data_window.height) or c != len(frame.channels):
        raise PlateError(f"cannot write {path}: pixels {w}x{h}x{c} do not match the data window "
                         f"{frame.data_window.width}x{frame.data_window.height} and {len(frame.channels)} channels")
    formats = [_EXR_FORMATS.get(f, "half") for f in frame.channel_formats]
    if len(formats) != c:
        formats = (formats + ["half"] * c)[:c]
    # OIIO ignores channelformats that are all alike and writes spec.format: give it that format,
    # else an all-half plate (and every half patch) came back as 32-bit float.
    uniform = len(set(formats)) == 1
    spec = oiio.ImageSpec(w, h, c, oiio.TypeDesc(formats[0]) if uniform else oiio.TypeFloat)
    spec.channelnames = tuple(frame.channels)
    if not uniform:
        spec.channelformats = tuple(oiio.TypeDesc(f) for f in formats)
    spec.x, spec.y = frame.data_window.xmin, frame.data_window.ymin
    spec.full_x, spec.full_y = frame.display_window.xmin, frame.display_window.ymin
    spec.full_width, spec.full_height = frame.display_window.width, frame.display_window.height
    if frame.tile_size:
        spec.tile_width, spec.tile_height = frame.tile_size
    for name, value in frame.metadata.items():
        if name in _DERIVED_ATTRIBUTES:
            continue
        typedesc = frame.metadata_types.get(name)
        _set_attribute(spec, name, value, typedesc)
    for name, value in (extra_metadata or {}).items():
        _set_attribute(spec, name, value, None)
    spec.attribute("PixelAspectRatio", float(frame.pixel_aspect))
    if spec.getattribute("DateTime") is None:
        # OIIO stamps the wall-clock time unless DateTime is set; "" suppresses it so the same
        # frame written twice (e.g. a render in different chunks) gives byte-identical files.
        spec.attribute("DateTime", "")
    current = str(spec.get_string_attribute("compression", "zip")).lower()
    if compression is not None:
        spec.attribute("compression", compression)
    elif current.split(":")[0] in _LOSSY_COMPRESSIONS:
        spec.attribute("faceplate/plate_compression", current)
        spec.attribute("compression", "zip")
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    with atomic_path(path) as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None:
            raise PlateError(f"cannot write {path}: {_one_line(oiio.geterror())}; check the file extension")
        try:
            if not out.open(str(tmp), spec):
                raise PlateError(f"cannot write {path}: {_one_line(out.geterror())}; check the folder is writable")
            if not out.write_image(pixels):
                raise PlateError(f"cannot write {path}: {_one_line(out.geterror())}; check free disk space")
        finally:
            out.close()


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"


def _set_attribute(spec, name: str, value: Any, typedesc) -> None:
    oiio = _oiio()
    if typedesc is not None:
        try:
            spec.attribute(name, typedesc, value)
            if spec.getattribute(name) is not None:
                return
        except (TypeError, ValueError, RuntimeError):
            pass
        # a caller replaced the value with one of another type: OIIO dropped it, store it by its own type
    if isinstance(value, bool):
        spec.attribute(name, int(value))
    elif isinstance(value, (int, float, str)):
        spec.attribute(name, value)
    elif isinstance(value, np.ndarray) or isinstance(value, (tuple, list)):
        arr = np.asarray(value)
        if arr.dtype.kind in "iu":
            spec.attribute(name, oiio.TypeDesc(f"int[{arr.size}]"), tuple(int(v) for v in arr.ravel()))
        else:
            spec.attribute(name, oiio.TypeDesc(f"float[{arr.size}]"), tuple(float(v) for v in arr.ravel()))
    else:
        spec.attribute(name, str(value))


# --------------------------------------------------------------------------- sequences

class PlateSequence:
    """A numbered image sequence (or one still) with a chosen frame list and RGB layer.

    Iterating streams frames in order, decoding up to ``read_ahead`` frames in a background
    thread while the caller works on the current one; the whole shot is never held.
    """

    def __init__(self, pattern: str, frames: Optional[list[int]] = None, layer: Optional[str] = None,
                 read_ahead: int = READ_AHEAD):
        self.layer = layer
        self.read_ahead = max(1, int(read_ahead))
        self._video: Optional[_VideoReader] = None
        if is_video(os.fspath(pattern)):  # frames 1..N, like a movie in a Nuke Read
            self.pattern = os.fspath(pattern)
            self._video = _VideoReader(self.pattern)
            self.frames = sorted(set(int(f) for f in frames)) if frames else list(range(1, self._video.count + 1))
            if not self.frames:
                raise PlateError(f"empty frame list for {self.pattern}: pass --frames, e.g. 1-100")
            return
        self.pattern, on_disk = detect_pattern(os.fspath(pattern))
        if _split_placeholder(self.pattern) is None:  # a single still: one frame, any number
            if not os.path.exists(self.pattern):
                raise PlateError(f"plate not found: {self.pattern}; check the path")
            self.frames = list(frames) if frames else [1]
            return
        if frames is None:
            if not on_disk:
                raise PlateError(f"no frames found for {self.pattern}; check the path and padding "
                                 f"(e.g. plate.####.exr for plate.1001.exr)")
            frames = on_disk
        self.frames = sorted(set(int(f) for f in frames))
        if not self.frames:
            raise PlateError(f"empty frame list for {self.pattern}: pass --frames, e.g. 1001-1100")

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        return f"PlateSequence({self.pattern!r}, {self.frames[0]}-{self.frames[-1]}, {len(self.frames)} frames)"

    def path(self, frame: int) -> str:
        return sequence_path(self.pattern, frame)

    @property
    def is_video(self) -> bool:
        return self._video is not None

    def close(self) -> None:
        """Release an open video decoder (image sequences hold no open files)."""
        if self._video is not None:
            self._video.close()

    def read(self, frame: int, rgb_only: bool = False) -> PlateFrame:
        if self._video is not None:
            return self._video.read(frame)
        path = self.path(frame)
        if not os.path.exists(path):
            raise PlateError(f"plate frame {frame} missing: {path}; render/copy it or choose --frames "
                             f"that exclude it")
        return read_image(path, layer=self.layer, frame=frame, rgb_only=rgb_only)

    def check_complete(self) -> None:
        """PlateError naming the first frame of the range that is not on disk."""
        if self._video is not None:
            missing = [f for f in self.frames if not 1 <= f <= self._video.count]
            if missing:
                raise PlateError(f"frame {missing[0]} is outside {self.pattern} (frames 1-{self._video.count}); "
                                 f"choose --frames inside that range")
            return
        missing = [f for f in self.frames if not os.path.exists(self.path(f))]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise PlateError(f"plate frame {missing[0]} missing: {self.path(missing[0])}{more}; "
                             f"render/copy it or choose --frames that exclude it")

    def __iter__(self) -> Iterator[PlateFrame]:
        return _read_ahead(self, list(self.frames), self.read_ahead)

    def iter_frames(self, frames: list[int]) -> Iterator[PlateFrame]:
        """Stream a subset of frames (in the given order) with the same read-ahead."""
        return _read_ahead(self, list(frames), self.read_ahead)

    def iter_rgb(self) -> Iterator[PlateFrame]:
        """Stream every frame holding only its face RGB channels (``rgb == (0, 1, 2)``; other
        channels are not decoded where the file allows): what analysis reads."""
        return _read_ahead(self, list(self.frames), self.read_ahead, rgb_only=True)

    def info(self) -> dict[str, Any]:
        """Resolution, windows, pixel aspect and a header fingerprint of the first frame."""
        first = self.read(self.frames[0])
        return {
            "pattern": os.path.abspath(self.pattern),
            "frames": list(self.frames),
            "first": self.frames[0], "last": self.frames[-1], "step": _step(self.frames),
            "width": first.display_window.width, "height": first.display_window.height,
            "pixel_aspect": first.pixel_aspect,
            "data_window": first.data_window.as_list(),
            "display_window": first.display_window.as_list(),
            "channels": list(first.channels),
            "layer": self.layer,
            "fingerprint": frame_fingerprint(first),
            "colourspace_hint": colourspace_hint(first),
        }


def _step(frames: list[int]) -> int:
    steps = {b - a for a, b in zip(frames, frames[1:])}
    return steps.pop() if len(steps) == 1 else 1


def frame_fingerprint(frame: PlateFrame) -> str:
    """sha256 of a frame's structure (channels, formats, windows, aspect) and its file size."""
    size = os.path.getsize(frame.path) if frame.path and os.path.exists(frame.path) else -1
    text = repr((frame.channels, frame.channel_formats, frame.data_window.as_list(),
                 frame.display_window.as_list(), round(frame.pixel_aspect, 6), size))
    return sha256_bytes(text.encode("utf-8"))


def colourspace_hint(frame: PlateFrame) -> Optional[str]:
    """What the file says its colour encoding is, as a name OCIO configs resolve, or None.

    OIIO reports an interop id (``srgb_rec709_scene`` for PNG/JPEG, ``lin_ap1_scene`` for an EXR
    that declares ACEScg); integer formats without one are assumed sRGB-encoded; float without one
    -> None (the caller's default, the config's scene_linear role).
    """
    declared = frame.metadata.get("oiio:ColorSpace") or frame.metadata.get("colorInteropID")
    if declared:
        return str(declared)
    if all(f.startswith(("uint", "int")) for f in frame.channel_formats):
        return "srgb_rec709_scene"
    return None


_DONE = object()


def _read_ahead(seq: PlateSequence, frames: list[int], depth: int, rgb_only: bool = False) -> Iterator[PlateFrame]:
    """Decode frames in a worker thread, at most ``depth`` ahead; errors surface in order."""
    buffer: "queue.Queue[Any]" = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Block until the consumer makes room; False once it has stopped listening."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def worker() -> None:
        for f in frames:
            if stop.is_set():
                return
            try:
                item: Any = seq.read(f, rgb_only=True) if rgb_only else seq.read(f)
            except BaseException as exc:  # handed to the consumer, raised at that frame
                item = exc
            if not put(item) or isinstance(item, BaseException):
                return
        put(_DONE)

    thread = threading.Thread(target=worker, name="faceplate-plate-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # consumer stopped early or finished: let the worker exit
        thread.join(timeout=5)


# --------------------------------------------------------------------------- video

def read_video(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video file with PyAV: yields ``(frame_index, rgb)`` with ``rgb`` (H, W, 3) uint8.

    Frame indices count decoded frames from 0; ``start``/``stop`` select a half-open range.
    """
    import av  # lazy: PyAV is only needed for video sources

    path = os.fspath(path)
    if not os.path.exists(path):
        raise PlateError(f"video not found: {path}; check the path")
    try:
        container = av.open(path)
    except Exception as exc:  # PyAV raises its own error classes per failure
        raise PlateError(f"cannot open video {path} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                         f"check it is a video file FFmpeg can read") from None
    try:
        if not container.streams.video:
            raise PlateError(f"{path} has no video stream; pass a video file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = 0
        try:
            for frame in container.decode(stream):
                if stop is not None and index >= stop:
                    break
                if index >= start:
                    yield index, frame.to_ndarray(format="rgb24")
                index += 1
        except av.error.FFmpegError as exc:
            raise PlateError(f"video {path} is corrupt at frame {index} ({exc}); re-encode or re-copy it") from None
    finally:
        container.close()


def is_video(path: str) -> bool:
    """True for file extensions PyAV handles and OIIO does not treat as image sequences."""
    return Path(os.fspath(path)).suffix.lower() in {".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mxf", ".mpg", ".mpeg"}


class _VideoReader:
    """Random access to a video's frames 1..N by decoding forward (re-opening to go back).

    Sequential reads, as PlateSequence iteration does, decode every frame once.
    """

    def __init__(self, path: str):
        import av

        if not os.path.exists(path):
            raise PlateError(f"video not found: {path}; check the path")
        self.path = path
        self._lock = threading.Lock()
        self._container = None
        self._decoder: Optional[Iterator] = None
        self._next = 1
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise PlateError(f"{path} has no video stream; pass a video file or an image sequence")
                stream = container.streams.video[0]
                count = int(stream.frames or 0)
                if count <= 0:  # container without a frame count: count packets (no decoding)
                    count = sum(1 for packet in container.demux(stream) if packet.size)
                sar = stream.codec_context.sample_aspect_ratio
                self.pixel_aspect = float(sar) if sar else 1.0
                self.fps = float(stream.average_rate) if stream.average_rate else 0.0
        except PlateError:
            raise
        except Exception as exc:  # PyAV raises its own error classes per failure
            raise PlateError(f"cannot open video {path} ({type(exc).__name__}); "
                             f"check it is a video file FFmpeg can read") from None
        self.count = count

    def _open(self) -> None:
        import av

        self.close()
        self._container = av.open(self.path)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._decoder = iter(self._container.decode(stream))
        self._next = 1

    def read(self, frame: int) -> PlateFrame:
        if not 1 <= frame <= self.count:
            raise PlateError(f"frame {frame} is outside {self.path} (frames 1-{self.count}); "
                             f"choose --frames inside that range")
        with self._lock:
            if self._decoder is None or frame < self._next:
                self._open()
            try:
                while True:
                    decoded = next(self._decoder)  # type: ignore[arg-type]
                    number = self._next
                    self._next += 1
                    if number == frame:
                        break
            except StopIteration:
                raise PlateError(f"video {self.path} ends before frame {frame}; choose --frames "
                                 f"inside 1-{self._next - 1}") from None
            except Exception as exc:
                raise PlateError(f"video {self.path} is corrupt near frame {frame} ({type(exc).__name__}); "
                                 f"re-encode or re-copy it") from None
            rgb = decoded.to_ndarray(format="rgb24")
        h, w = rgb.shape[:2]
        window = Window(0, 0, w - 1, h - 1)
        return PlateFrame(pixels=rgb.astype(np.float32) / np.float32(255.0), channels=("R", "G", "B"),
                          channel_formats=("uint8",) * 3, rgb=(0, 1, 2), data_window=window,
                          display_window=window, pixel_aspect=self.pixel_aspect,
                          metadata={"oiio:ColorSpace": "srgb_rec709_scene", "faceplate/video_fps": self.fps},
                          path=self.path, frame=frame)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._decoder = None
