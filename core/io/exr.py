"""Image files through OpenImageIO: reading one frame's RGB (a layer of a multi-part EXR too) with
its header, windows and other channels, and writing EXR frames that keep all of it.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Optional

import numpy as np
from faceplate.core.errors import PlateError
from faceplate.core.filesystem import atomic_path, sha256_bytes
from faceplate.core.types import PlateFrame, Window

log = logging.getLogger("faceplate.plate_io")


# Header attributes that OIIO derives from the file structure or that PlateFrame holds as
# fields: they are not copied into ``metadata`` (writing them back would be wrong or redundant).
_DERIVED_ATTRIBUTES = frozenset({
    "oiio:subimages", "oiio:RowsPerChunk", "PixelAspectRatio",
})


# EXR compressions that change pixel values on re-encoding; write_exr swaps them for zip so
# untouched pixels stay bit-identical (the original name is kept in metadata for the record).
_LOSSY_COMPRESSIONS = ("dwaa", "dwab", "b44", "b44a")


# Formats EXR can store; anything else (8/16-bit from PNG/TIFF/DPX) is written as 32-bit float:
# the decoded value (k/255, k/65535) exactly, so an 8-bit plate's untouched pixels come back
# bit-identical. Half would round them (1/255 is not a half) and break that promise.
_EXR_FORMATS = {"half": "half", "float": "float", "uint": "uint", "uint32": "uint",
                "uint8": "float", "int8": "float", "uint16": "float", "int16": "float",
                "double": "float", "int": "float", "int32": "float"}


_RGB_NAMES = (("R", "red", "r"), ("G", "green", "g"), ("B", "blue", "b"))


def _oiio():
    import OpenImageIO as oiio  # lazy: keeps `faceplate --help` cheap
    return oiio


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
