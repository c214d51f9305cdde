"""Render-test plates: real face photos in scene-linear EXRs with extra layers, overscan and super-whites.

Built once per test session into a tmp folder (never committed). The track file is made from the
project's own default detector + landmarker on each frame, so render sees what analyze would give.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DISPLAY = (480, 360)         # display window size
OVERSCAN = (16, 12)          # data window extends this far outside the display window
FRAMES = list(range(1001, 1010))


@dataclass
class Shot:
    pattern: str
    track: str
    frames: list
    source: str


def _read_rgb8(path) -> np.ndarray:
    import cv2
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def face_crop(path, face_px: int = 150, box_px: int = 300):
    """A (box_px, box_px) uint8 RGB crop centred on the photo's largest face, face ~face_px wide."""
    import cv2

    from faceplate.core.models.zoo import load_detector
    from faceplate.core.analyze.pyramid import detect_faces

    rgb = _read_rgb8(path)
    det = max(detect_faces(load_detector(), rgb, min_face=32), key=lambda d: d.width)
    s = face_px / det.width
    cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
    m = np.array([[s, 0, box_px / 2 - s * cx], [0, s, box_px / 2 - s * cy]])
    return cv2.warpAffine(rgb, m, (box_px, box_px), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def write_plate_frame(path: str, rgb_linear: np.ndarray, frame: int, aspect: float = 1.0) -> None:
    """EXR: RGBA half + depth.Z float + CryptoObject00.RGBA float, overscan data window, extra header."""
    import OpenImageIO as oiio

    h, w = rgb_linear.shape[:2]
    rng = np.random.default_rng(frame)
    depth = (10.0 + rng.random((h, w))).astype(np.float32)
    crypto = rng.random((h, w, 4)).astype(np.float32)
    alpha = np.ones((h, w, 1), np.float32)
    pix = np.concatenate([rgb_linear, alpha, depth[..., None], crypto], axis=2).astype(np.float32)
    spec = oiio.ImageSpec(w, h, pix.shape[2], oiio.TypeFloat)
    spec.channelnames = ("R", "G", "B", "A", "depth.Z", "CryptoObject00.R", "CryptoObject00.G",
                         "CryptoObject00.B", "CryptoObject00.A")
    spec.channelformats = tuple(oiio.TypeDesc(t) for t in ["half"] * 4 + ["float"] * 5)
    spec.x, spec.y = -OVERSCAN[0], -OVERSCAN[1]
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, DISPLAY[0], DISPLAY[1]
    spec.attribute("compression", "zip")
    spec.attribute("PixelAspectRatio", float(aspect))
    spec.attribute("cryptomatte/0a1b2c3/name", "CryptoObject")
    spec.attribute("cryptomatte/0a1b2c3/hash", "MurmurHash3_32")
    spec.attribute("studio/shot", "tst_0010")
    spec.attribute("owner", "plate dept")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec)
    assert out.write_image(pix)
    out.close()


def make_shot(folder: Path, target_photo, source_photo: str, frames=FRAMES, aspect: float = 1.0,
              face_px: int = 150) -> Shot:
    """A moving-face plate of ``target_photo`` (1 px/frame drift), super-whites and negatives away
    from the face, and its track file."""
    import cv2

    from faceplate.core.models.zoo import load_detector, load_landmarker
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.analyze.pyramid import detect_faces
    from faceplate.core.types import FaceEntry

    folder.mkdir(parents=True, exist_ok=True)
    colour = ColourPipeline()
    face = face_crop(target_photo, face_px)
    if aspect != 1.0:  # anamorphic: the stored plate is squeezed horizontally
        face = cv2.resize(face, (int(round(face.shape[1] / aspect)), face.shape[0]), interpolation=cv2.INTER_AREA)
    w, h = DISPLAY[0] + 2 * OVERSCAN[0], DISPLAY[1] + 2 * OVERSCAN[1]
    rng = np.random.default_rng(7)
    bg = (0.05 + 0.1 * rng.random((h // 8, w // 8, 3))).astype(np.float32)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_CUBIC)
    pattern = str(folder / "plate.####.exr")
    detector, landmarker = load_detector(), load_landmarker()
    entries = {}
    for i, f in enumerate(frames):
        img = bg.copy()
        x0, y0 = 100 + i, 40 + (i % 3)
        img[y0:y0 + face.shape[0], x0:x0 + face.shape[1]] = colour.from_uint8(face)
        img = img + rng.normal(0, 0.004, img.shape).astype(np.float32)  # plate grain
        img[5:40, 5:60] = 6.5                  # super-whites far from the face
        img[h - 30:h - 5, 5:60] = -0.02        # negatives (overscan corner)
        img[h - 20, w - 20] = np.nan
        img[(img.shape[0] // 2), w - 30:w - 10] = 40.0  # hot line at the right edge
        write_plate_frame(pattern.replace("####", f"{f:04d}"), img, f, aspect)
        u8 = colour.to_uint8(img)
        if aspect != 1.0:
            u8 = cv2.resize(u8, (int(round(w * aspect)), h), interpolation=cv2.INTER_LINEAR)
        det = max(detect_faces(detector, u8, min_face=40), key=lambda d: d.width)
        lm = np.asarray(landmarker.landmarks(u8, det), np.float64)
        p5 = np.asarray(det.points5, np.float64)
        box = np.asarray(det.box, np.float64)
        # Data-window array coords -> plate coords; desqueezed x -> stored x.
        def plate_xy(p):
            q = np.array(p, np.float64).reshape(-1, 2).copy()
            q[:, 0] = (q[:, 0] + 0.5) / aspect - 0.5 - OVERSCAN[0]
            q[:, 1] -= OVERSCAN[1]
            return q
        lm, p5 = plate_xy(lm), plate_xy(p5)
        box = plate_xy(box.reshape(2, 2)).reshape(4)
        entries[f] = FaceEntry(f, "detected", float(det.score), box, box.copy(), p5, p5.copy(), lm, lm.copy())
    track = write_one_track_file(folder, pattern, frames, entries, detector, landmarker, DISPLAY, aspect)
    return Shot(pattern, track, list(frames), str(source_photo))


def write_one_track_file(folder: Path, pattern: str, frames, entries: dict, detector, landmarker,
                         size: tuple[int, int], aspect: float = 1.0) -> str:
    """``folder/shot.track.json`` holding one track (id 1) of ``entries`` over the plate ``pattern``."""
    from faceplate.core.io.exr import frame_fingerprint
    from faceplate.core.io.sequence import PlateSequence
    from faceplate.core.io.track_file import save_track_file
    from faceplate.core.types import PlateInfo, Track, TrackFile

    first = PlateSequence(pattern).read(frames[0])
    info = PlateInfo(pattern=pattern, first=frames[0], last=frames[-1], step=1, width=size[0],
                     height=size[1], pixel_aspect=aspect, data_window=tuple(first.data_window.as_list()),
                     display_window=tuple(first.display_window.as_list()), layer=None, colourspace=None,
                     fingerprint=frame_fingerprint(first))
    models_info = {"detector": {"name": detector.name, "sha256": detector.sha256},
                   "landmarker": {"name": landmarker.name, "sha256": landmarker.sha256}}
    tf = TrackFile(plate=info, models=models_info, settings={}, cuts=[],
                   tracks=[Track(1, np.zeros(128, np.float32), entries)])
    track = str(Path(folder) / "shot.track.json")
    save_track_file(tf, track)
    return track
