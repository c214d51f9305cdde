"""Video files through PyAV: frame-accurate reads of movie plates and sources.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
from faceplate.core.errors import PlateError
from faceplate.core.types import PlateFrame, Window


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
