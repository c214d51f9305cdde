"""A plate: an image sequence or a video, opened once, read frame by frame with read-ahead.
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Any, Iterator, Optional

from faceplate.core.errors import PlateError
from faceplate.core.io.exr import colourspace_hint, frame_fingerprint, read_image
from faceplate.core.io.frames import _split_placeholder, _step, detect_pattern, sequence_path
from faceplate.core.io.video import _VideoReader, is_video
from faceplate.core.types import PlateFrame

READ_AHEAD = 3  # frames decoded ahead of the consumer by PlateSequence iteration


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


def _window_problem(display: Any, origin: Any, aspect: float, want_display: Any, want_origin: Any,
                    want_aspect: float) -> Optional[str]:
    display, want_display = [int(v) for v in display], [int(v) for v in want_display]
    if display != want_display:
        return f"display window {display} vs {want_display}"
    if (int(origin[0]), int(origin[1])) != (int(want_origin[0]), int(want_origin[1])):
        return f"data window origin {tuple(origin)} vs {tuple(want_origin)}"
    if abs(float(aspect or 1.0) - float(want_aspect or 1.0)) > 1e-6:
        return f"pixel aspect {aspect} vs {want_aspect}"
    return None


def check_windows(frame: PlateFrame, display: Any, origin: Any, aspect: float, reference: str) -> None:
    """PlateError naming ``frame`` when its display window, data-window origin or pixel aspect is not
    the shot's (``reference`` says where those came from): a frame at another resolution would be
    composited at the wrong place. The data window's extent may vary (CG auto-bbox): faces are
    placed in display coordinates and clipped to each frame's own data window.
    """
    dw = frame.data_window
    problem = _window_problem(frame.display_window.as_list(), (dw.xmin, dw.ymin), frame.pixel_aspect,
                              display, origin, aspect)
    if problem:
        _refuse(frame.path or f"frame {frame.frame}", problem, reference)


def _refuse(name: str, problem: str, reference: str) -> None:
    raise PlateError(f"{name}: {problem} ({reference}); a frame at another resolution or position is "
                     f"refused: fix that frame or re-run analyze")


def check_headers(seq: "PlateSequence", frames: list[int], display: Any, origin: Any, aspect: float,
                  reference: str) -> None:
    """``check_windows`` from the headers alone (no pixels decoded), for every frame before a
    render writes its first file. Video frames share one size: nothing to check."""
    if seq.is_video:
        return
    import OpenImageIO as oiio

    for f in frames:
        path = seq.path(f)
        inp = oiio.ImageInput.open(path)
        if inp is None:
            oiio.geterror()
            continue  # unreadable: read() names it when the frame is reached
        try:
            spec = inp.spec()
            have = [spec.full_x, spec.full_y, spec.full_x + spec.full_width - 1, spec.full_y + spec.full_height - 1]
            pa = float(spec.get_float_attribute("PixelAspectRatio", 1.0) or 1.0)
            problem = _window_problem(have, (spec.x, spec.y), pa, display, origin, aspect)
        finally:
            inp.close()
        if problem:
            _refuse(path, problem, reference)


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
