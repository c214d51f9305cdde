"""Dataset inputs: footage found under the given paths (videos, image sequences, stills) and the frames
sampled from each, with their timecodes."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import cv2
import numpy as np
from faceplate.core.errors import FaceplateError

from .dataset_filters import to_uint8

if TYPE_CHECKING:  # settings live with the builder
    from .dataset import BuildSettings

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr", ".dpx", ".ppm", ".pgm"}


FLOAT_EXTS = {".exr", ".dpx", ".hdr"}


@dataclass
class Source:
    """One input: a video, an image sequence or a folder of images → one group folder."""

    path: str
    kind: str                                  # "video" | "images"
    group: str
    files: list[tuple[int, str]] = field(default_factory=list)   # images: (frame, path)


def _safe_group(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return keep or "input"


def discover(inputs: Sequence[str]) -> list[Source]:
    """Classify inputs: video files, image sequences (``plate.####.exr`` or one numbered frame),
    folders of images, single images. Group names are unique file/folder stems."""
    from faceplate.core.io.frames import detect_pattern, sequence_path
    from faceplate.core.io.video import is_video

    sources: list[Source] = []
    used: set[str] = set()

    def group_for(stem: str) -> str:
        g = _safe_group(stem)
        base, n = g, 2
        while g in used:
            g, n = f"{base}_{n}", n + 1
        used.add(g)
        return g

    for raw in inputs:
        path = os.path.abspath(os.fspath(raw))
        if os.path.isdir(path):
            files = sorted(p for p in Path(path).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
            videos = sorted(p for p in Path(path).iterdir() if p.is_file() and is_video(str(p)))
            if videos and not files:  # a folder of clips: each clip is its own input/group
                sources.extend(Source(str(v), "video", group_for(v.stem)) for v in videos)
                continue
            numbered = [(_frame_number(p.name), str(p)) for p in files]
            if numbered and all(n is not None for n, _ in numbered) and len({n for n, _ in numbered}) == len(numbered):
                entries = sorted((int(n), p) for n, p in numbered)  # an image sequence in a folder
            else:
                entries = [(i, str(p)) for i, p in enumerate(files)]
            sources.append(Source(path, "images", group_for(Path(path).name), entries))
        elif os.path.isfile(path) and is_video(path):
            sources.append(Source(path, "video", group_for(Path(path).stem)))
        elif any(tok in path for tok in ("#", "%0", "@")) or (os.path.isfile(path) and _frame_number(Path(path).name) is not None):
            pattern, frames = detect_pattern(path)
            if not frames:
                if os.path.isfile(path):
                    sources.append(Source(path, "images", group_for(Path(path).stem), [(0, path)]))
                    continue
                raise FaceplateError(f"{raw}: no frames of this sequence on disk; check the pattern")
            stem = Path(pattern).name.split("#")[0].split("%")[0].split("@")[0].rstrip("._-") or Path(pattern).parent.name
            sources.append(Source(pattern, "images", group_for(stem), [(f, sequence_path(pattern, f)) for f in frames]))
        elif os.path.isfile(path) and Path(path).suffix.lower() in IMAGE_EXTS:
            sources.append(Source(path, "images", group_for(Path(path).stem), [(0, path)]))
        elif os.path.isfile(path):
            # Unknown extension: try it as a video; a failure is reported as a skipped input.
            sources.append(Source(path, "video", group_for(Path(path).stem)))
        else:
            raise FaceplateError(f"{raw}: no such file or folder; pass videos, image sequences or folders of images")
    return sources


def _frame_number(name: str) -> Optional[int]:
    stem = name.rsplit(".", 1)[0]
    digits = ""
    for c in reversed(stem):
        if c.isdigit():
            digits = c + digits
        else:
            break
    return int(digits) if len(digits) >= 3 else None


def video_fps(path: str) -> float:
    try:
        import av
        with av.open(path) as container:
            rate = container.streams.video[0].average_rate
            return float(rate) if rate else 24.0
    except Exception:  # unreadable: read_video names the problem
        return 24.0


def frame_total(source: Source) -> int:
    """Frames in the input (0 when the container does not say): for progress only."""
    if source.kind != "video":
        return len(source.files)
    try:
        import av
        with av.open(source.path) as container:
            return int(container.streams.video[0].frames or 0)
    except Exception:  # unreadable: reported by the decoder
        return 0


def timecode(frame: int, fps: float) -> str:
    """Non-drop SMPTE-style HH:MM:SS:FF of a 0-based frame index."""
    fps_i = max(1, int(round(fps)))
    ff = frame % fps_i
    s = frame // fps_i
    return f"{s // 3600:02d}:{(s // 60) % 60:02d}:{s % 60:02d}:{ff:02d}"


class _Sampler:
    """Decides which frames are analysed: every N, N per second, and/or the first of each shot."""

    def __init__(self, settings: BuildSettings, fps: float):
        self.s = settings
        self.fps = fps
        self.prev_hist = None
        self.prev_slot = None

    def take(self, index: int, image: np.ndarray) -> bool:
        s = self.s
        take = False
        if s.every:
            take = take or index % s.every == 0
        if s.per_second:
            slot = math.floor(index * s.per_second / self.fps + 1e-9)
            take = take or slot != self.prev_slot
            self.prev_slot = slot
        if s.shot_change:
            take = self._cut(image) or take
        if not (s.every or s.per_second or s.shot_change):
            take = True
        return take

    def _cut(self, image: np.ndarray) -> bool:
        small = cv2.resize(to_uint8(image), (64, 36), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256])
        hist = cv2.normalize(hist, None).flatten()
        cut = self.prev_hist is None or cv2.compareHist(self.prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA) > 0.45
        self.prev_hist = hist
        return bool(cut)


def iter_frames(source: Source, settings: BuildSettings, colour=None) -> Iterator[tuple[int, str, str, np.ndarray]]:
    """Yield (frame, source path, timecode, image) for every frame in order (not only sampled).

    image: (H, W, 3) uint8 sRGB, or float32 sRGB-encoded 0..1 (EXR/DPX/16-bit, kept for 16-bit PNGs).
    Raises PlateError on an unreadable/truncated input.
    """
    from faceplate.core.errors import PlateError
    if source.kind == "video":
        from faceplate.core.io.video import read_video
        fps = video_fps(source.path)
        for index, rgb in read_video(source.path):
            yield index, source.path, timecode(index, fps), rgb
        return
    for frame, path in source.files:
        ext = Path(path).suffix.lower()
        if ext in FLOAT_EXTS:
            from faceplate.core.io.exr import read_image
            plate = read_image(path, layer=settings.layer)
            rgb = plate.pixels[..., list(plate.rgb)]
            if colour is None:
                from faceplate.core.colour import ColourPipeline
                colour = ColourPipeline(settings.colourspace)
            image = colour.to_model(rgb)
            if settings.bit_depth == 8:
                image = to_uint8(image)  # 4× less to ship to the workers than float32
            tc = str(plate.metadata.get("smpte:TimeCode", "")) or str(frame)
        else:
            raw = cv2.imread(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
            if raw is None:
                raise PlateError(f"cannot read image {path}; check the file is a readable image")
            if raw.ndim == 2:
                raw = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
            if raw.shape[2] == 4:
                raw = raw[..., :3]
            image = np.ascontiguousarray(raw[..., ::-1])
            if image.dtype == np.uint16:
                image = image.astype(np.float32) / 65535.0 if settings.bit_depth == 16 else to_uint8(image)
            elif image.dtype != np.uint8:
                image = np.clip(image.astype(np.float32), 0, 1)
            tc = str(frame)
        yield frame, path, tc, image
