"""Real face crops for training tests and benches: ``face_dataset`` from faces the installed packages
carry (runs on any clone); the clip helpers below from the shared assets.

A stand-in for `faceplate dataset build` (another room) so training tests do not depend on it:
YuNet (from the assets) finds faces and 5 points, faces are linked into tracks by box overlap,
and each track (or each listed photo set) becomes one identity folder of FFHQ-style PNG crops:
``out/<group>/<k>/<n>.png``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import cv2
import numpy as np

from faceplate.training.data import ffhq_matrix

PHOTO_SETS = {
    "obama": ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama-480p.jpg", "obama_small.jpg"],
    "biden": ["biden.jpg", ("two_people.jpg", 1)],   # (file, index of the face sorted left to right)
}


def _detector(assets: Path):
    return cv2.FaceDetectorYN.create(str(assets / "models/yunet/yunet_n_640_640.onnx"), "", (640, 640), 0.7, 0.3, 50)


def detect(det, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(box x0,y0,x1,y1, points5 (5,2))] sorted left to right."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    det.setInputSize((bgr.shape[1], bgr.shape[0]))
    _, rows = det.detect(bgr)
    faces = []
    for r in ([] if rows is None else rows):
        box = np.array([r[0], r[1], r[0] + r[2], r[1] + r[3]], dtype=np.float64)
        faces.append((box, np.asarray(r[4:14], dtype=np.float64).reshape(5, 2)))
    return sorted(faces, key=lambda f: f[0][0])


def crop(rgb: np.ndarray, points5: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(rgb, ffhq_matrix(points5, size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101)


def _save(rgb_crop: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb_crop, cv2.COLOR_RGB2BGR))


def photo_crops(assets: Path, out: Path, size: int = 128) -> None:
    det = _detector(assets)
    for name, files in PHOTO_SETS.items():
        n = 0
        for entry in files:
            file, which = (entry, 0) if isinstance(entry, str) else entry
            rgb = cv2.cvtColor(cv2.imread(str(assets / "media/face_recognition" / file)), cv2.COLOR_BGR2RGB)
            faces = detect(det, rgb)
            if len(faces) > which:
                _save(crop(rgb, faces[which][1], size), out / "photos" / name / f"{n:04d}.png")
                n += 1


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def video_tracks(assets: Path, clip: str, every: int = 1, max_frames: Optional[int] = None, min_face: float = 40,
                 ) -> list[list[tuple[int, np.ndarray, np.ndarray]]]:
    """Face tracks [(frame, box, points5)] linked by IoU > 0.3 across at most 3 missing frames."""
    import av

    det = _detector(assets)
    tracks: list[list[tuple[int, np.ndarray, np.ndarray]]] = []
    frames: dict[int, np.ndarray] = {}
    previous = None
    cut_at = 0
    with av.open(str(assets / clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if max_frames is not None and i >= max_frames:
                break
            if i % every:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            small = cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)
            if previous is not None and np.abs(small - previous).mean() > 25:  # shot cut: no track crosses it
                cut_at = i
            previous = small
            for box, pts in detect(det, rgb):
                if box[2] - box[0] < min_face:
                    continue
                best = None
                for t in tracks:
                    last_frame, last_box, _ = t[-1]
                    if 0 < i - last_frame <= 3 * every and last_frame >= cut_at and iou(box, last_box) > 0.3:
                        if best is None or iou(box, last_box) > iou(box, best[-1][1]):
                            best = t
                if best is None:
                    tracks.append([(i, box, pts)])
                else:
                    best.append((i, box, pts))
            frames[i] = rgb
    return [[(f, b, p, frames[f]) for f, b, p in t] for t in tracks]


def video_crops(assets: Path, clip: str, group: str, out: Path, size: int = 128, every: int = 1,
                max_frames: Optional[int] = None, min_track: int = 4, per_track: int = 0, min_face: float = 40) -> int:
    """Write one identity folder per track with ≥ ``min_track`` detections; returns the number of folders."""
    k = 0
    for track in video_tracks(assets, clip, every, max_frames, min_face):
        if len(track) < min_track:
            continue
        picks = track if per_track <= 0 else [track[int(j)] for j in np.linspace(0, len(track) - 1, per_track)]
        for n, (_, _, pts, rgb) in enumerate(picks):
            _save(crop(rgb, pts, size), out / group / str(k) / f"{n:04d}.png")
        k += 1
    return k


def build_test_dataset(assets: Path, out: Path, size: int = 128) -> Path:
    """Small real dataset: obama (5 photos), biden (2), tracked faces from both clips (8 crops each)."""
    photo_crops(assets, out, size)
    video_crops(assets, "media/video/clip_01_tears_of_steel.mp4", "tears", out, size, every=2, min_track=6, per_track=8)
    video_crops(assets, "media/face_recognition/short_hamilton_clip.mp4", "hamilton", out, size, every=2,
                max_frames=220, min_track=6, per_track=8)
    return out


# -- pytest fixtures (imported by the training/export tests) ------------------------------------
import pytest  # noqa: E402


_BUILT: dict[str, Path] = {}


def package_dataset(faces, out: Path, size: int = 128, views: int = 6) -> Path:
    """A real 7-identity dataset from faces the installed packages carry (tests/package_faces.py): the six
    people of insightface's group photo and scikit-image's astronaut, ``views`` crops each, each view the
    photo under another small camera move (roll, zoom, shift) and exposure, aligned on the embedded
    default detector's 5 points. ``out/photos/<name>/<n>.png``."""
    from faceplate.core.analyze.pyramid import detect_faces
    from faceplate.core.models.zoo import load_detector

    detector = load_detector()
    names = ("aniston", "cox", "schwimmer", "perry", "leblanc", "kudrow", "astronaut")
    photos = [faces.person(i, margin=0.9) for i in range(6)] + [faces.astronaut]
    for name, photo in zip(names, photos):
        rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        for n in range(views):
            angle, zoom = (-8.0 + 16.0 * n / max(views - 1, 1)), 0.9 + 0.04 * n
            m = cv2.getRotationMatrix2D((w / 2 + 3 * (n % 3), h / 2 - 2 * (n % 2)), angle, zoom)
            view = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
            view = np.clip(view.astype(np.float32) * (0.85 + 0.06 * n), 0, 255).astype(np.uint8)
            det = max(detect_faces(detector, view, min_face=32), key=lambda d: d.width)
            _save(crop(view, np.asarray(det.points5, np.float64), size), out / "photos" / name / f"{n:04d}.png")
    return out


@pytest.fixture(scope="session")
def face_dataset(package_faces, tmp_path_factory) -> Path:
    """A real 7-identity dataset of 128² FFHQ-style crops from package faces, built once per session.

    Cached at module level: every test module imports this fixture, and pytest would otherwise
    build one per importing module."""
    key = str(package_faces.folder)
    if key not in _BUILT:
        _BUILT[key] = package_dataset(package_faces, tmp_path_factory.mktemp("faces") / "dataset")
    return _BUILT[key]


@pytest.fixture(scope="session")
def mobilefacenet(asset) -> Path:
    return asset("models/mobilefacenet/MobileFaceNet.onnx")


TINY_IDENTITY = dict(steps=12, batch_size=8, lr=0.05, width=0.25, embedding_dim=32, scale=16.0, margin=0.2,
                     log_every=1, checkpoint_every=6, augment=False, threads=1, image_every=0)
TINY_SWAPPER = dict(steps=12, batch_size=2, lr=1e-3, input_size=32, base_channels=8, down_layers=2, id_blocks=1,
                    disc_channels=8, disc_layers=2, disc_scales=1, log_every=1, checkpoint_every=6, image_every=0,
                    augment=False, threads=1)
