"""A small real-face shot for robustness tests: a 192x144 EXR (or PNG) plate, a few frames of a real
photo's face drifting 2 px/frame, and its track file from the project's own detector + landmarker.

Detection runs once (the face only translates), so building a shot costs about a second.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIZE = (192, 144)
FACE_PX = 64


@dataclass
class SmallShot:
    folder: Path
    pattern: str
    track: str
    frames: list
    source: str


def _write_exr(path: str, rgb: np.ndarray, display: tuple[int, int]) -> None:
    import OpenImageIO as oiio

    h, w = rgb.shape[:2]
    pix = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], axis=2).astype(np.float32)
    spec = oiio.ImageSpec(w, h, 4, "half")
    spec.channelnames = ("R", "G", "B", "A")
    spec.full_width, spec.full_height = display
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec) and out.write_image(pix)
    out.close()


def make_small_shot(folder: Path, photo, source, frames=(1001, 1002, 1003), png: bool = False,
                    size: tuple[int, int] = SIZE) -> SmallShot:
    import cv2

    from faceplate.core.analyze.pyramid import detect_faces
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.models.zoo import load_detector, load_landmarker
    from faceplate.core.types import FaceEntry
    from tests.core.render_plates import face_crop, write_one_track_file

    folder.mkdir(parents=True, exist_ok=True)
    colour = ColourPipeline()
    w, h = size
    face = face_crop(photo, FACE_PX, 2 * FACE_PX)
    rng = np.random.default_rng(3)
    bg = cv2.resize((40 + 60 * rng.random((h // 8, w // 8, 3))).astype(np.uint8), (w, h),
                    interpolation=cv2.INTER_CUBIC)
    ext = "png" if png else "exr"
    pattern = str(folder / f"plate.####.{ext}")
    detector, landmarker = load_detector(), load_landmarker()
    base = None
    entries = {}
    for i, f in enumerate(frames):
        img = bg.copy()
        x0, y0 = 20 + 2 * i, 8
        fh, fw = min(face.shape[0], h - y0), min(face.shape[1], w - x0)
        img[y0:y0 + fh, x0:x0 + fw] = face[:fh, :fw]
        path = pattern.replace("####", f"{f:04d}")
        if png:
            cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        else:
            _write_exr(path, colour.from_uint8(img), (w, h))
        if base is None:  # detect once; later frames are the same face shifted
            det = max(detect_faces(detector, img, min_face=24), key=lambda d: d.width)
            lm = np.asarray(landmarker.landmarks(img, det), np.float64).reshape(68, 2)
            base = (np.asarray(det.box, np.float64), np.asarray(det.points5, np.float64), lm, float(det.score))
        shift = np.array([2.0 * i, 0.0])
        box = base[0] + np.tile(shift, 2)
        p5, lm = base[1] + shift, base[2] + shift
        entries[f] = FaceEntry(f, "detected", base[3], box, box.copy(), p5, p5.copy(), lm, lm.copy())
    track = write_one_track_file(folder, pattern, frames, entries, detector, landmarker, (w, h))
    # the shot owns a copy of the source photo: tests that try to overwrite it never touch the original
    source_copy = Path(folder) / f"source{Path(source).suffix}"
    shutil.copyfile(source, source_copy)
    return SmallShot(folder, pattern, track, list(frames), str(source_copy))
