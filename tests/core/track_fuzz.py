"""Track-file fuzzing shared by tests/core/cli/test_track_fuzz.py and bench/bench_track_fuzz.py."""
from __future__ import annotations

import copy
import json
import signal
import traceback
from pathlib import Path
from typing import Any

import numpy as np

_VALUES = [1e300, -1e300, 10 ** 400, -(10 ** 400), 2 ** 63, float("nan"), float("inf"), True, None, "x", [], {},
           0, -1, 1e-300]


def _leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _leaves(v, path + (k,))]
    if isinstance(obj, list) and obj:
        return [p for i, v in enumerate(obj) for p in _leaves(v, path + (i,))]
    return [path]


def _set(obj: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def _get(obj: Any, path: tuple) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def mutate(data: dict, rng: np.random.Generator) -> tuple[dict, str]:
    """One mutation of a track file's JSON data, and what it was."""
    d = copy.deepcopy(data)
    frames = d["tracks"][0]["frames"]
    entry = frames[sorted(frames)[0]]
    kind = int(rng.integers(0, 8))
    if kind == 0:  # one leaf anywhere gets an odd value
        path = _leaves(d)[int(rng.integers(0, len(_leaves(d))))]
        value = _VALUES[int(rng.integers(0, len(_VALUES)))]
        _set(d, path, value)
        return d, f"{path} = {value!r}"[:120]
    if kind == 1:  # a numeric leaf of the face scaled
        path = ("tracks", 0, "frames", sorted(frames)[0]) + _leaves(entry)[int(rng.integers(0, len(_leaves(entry))))]
        factor = float(10 ** rng.uniform(-3, 300)) * (1 if rng.random() < 0.7 else -1)
        value = _get(d, path)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _set(d, path, value * factor)
        return d, f"{path} *= {factor:.3g}"
    if kind == 2:  # a key deleted
        path = _leaves(d)[int(rng.integers(0, len(_leaves(d))))]
        parent = _get(d, path[:-1]) if len(path) > 1 else d
        if isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.pop(path[-1])
        return d, f"deleted {path}"
    if kind == 3:  # the whole face scaled about its centre (landmarks, points, box alike)
        s = float(rng.choice([0.0, 1e-6, 0.3, 2.0, 5.0, 40.0, 1000.0]))
        for key in ("landmarks", "points5", "landmarks_raw", "points5_raw"):
            pts = np.asarray(entry[key], float)
            c = pts.mean(axis=0)
            entry[key] = ((pts - c) * s + c).tolist()
        return d, f"face scaled x{s}"
    if kind == 4:  # the face moved (partly or wholly out of frame)
        off = rng.uniform(-700, 700, 2)
        for key in ("landmarks", "points5", "landmarks_raw", "points5_raw"):
            entry[key] = (np.asarray(entry[key], float) + off).tolist()
        box = np.asarray(entry["box"], float).reshape(2, 2) + off
        entry["box"] = box.reshape(4).tolist()
        return d, f"face moved by {off.round(1).tolist()}"
    if kind == 5:  # landmarks shuffled (a twisted, self-intersecting outline)
        lm = entry["landmarks"]
        order = rng.permutation(len(lm))
        entry["landmarks"] = [lm[i] for i in order]
        return d, "landmarks shuffled"
    if kind == 6:  # landmarks collapsed to a line
        lm = np.asarray(entry["landmarks"], float)
        lm[:, 1] = lm[0, 1]
        entry["landmarks"] = lm.tolist()
        return d, "landmarks on one line"
    # kind 7: plate geometry edited
    key = str(rng.choice(["width", "height", "data_window", "display_window", "frames", "pixel_aspect"]))
    value = d["plate"][key]
    if isinstance(value, list):
        i = int(rng.integers(0, len(value)))
        value[i] = int(rng.choice([-(10 ** 12), -1, 0, 7, 10 ** 9, 10 ** 30]))
    else:
        d["plate"][key] = rng.choice([0, -5, 1e-9, 3.0, 10 ** 12, 10 ** 400])
    return d, f"plate.{key} = {d['plate'][key]!r}"[:120]


class _Timeout(Exception):
    pass


def _alarm(_sig, _frame):
    raise _Timeout()


def run_cases(shot: Any, folder: Path, n: int, seed: int, timeout_s: float = 20.0) -> dict:
    """Fuzz ``n`` mutations of ``shot``'s track file; returns counts and failure descriptions."""
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.errors import FaceplateError, TrackFileError
    from faceplate.core.io.sequence import PlateSequence, check_windows
    from faceplate.core.io.track_file import load_track_file
    from faceplate.core.render.composite import accumulate, composite
    from faceplate.core.render.engines.classical import ClassicalSwapper
    from faceplate.core.render.frame import FrameRenderer
    from faceplate.core.render.pipeline import faces_at
    from faceplate.core.render.settings import RenderSettings
    from faceplate.core.render.source import load_source_identity
    from faceplate.core.models.zoo import load_detector, load_landmarker

    colour = ColourPipeline()
    source = load_source_identity([shot.source], None, colour, load_detector(), load_landmarker(), None)
    engine = ClassicalSwapper(source)
    frame_no = shot.frames[0]
    plate = PlateSequence(shot.pattern).read(frame_no)
    base = json.loads(Path(shot.track).read_text())
    rng = np.random.default_rng(seed)
    summary: dict = {"cases": 0, "refused": 0, "rendered": 0, "failures": []}
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i in range(n):
            data, what = mutate(base, rng)
            path = folder / f"fuzz{i % 4}.track.json"
            path.write_text(json.dumps(data))  # NaN/Infinity as JSON's extension, as a hand edit might
            # random but valid matte settings: the kernels grow with them and with the face
            settings = RenderSettings(erode=float(rng.uniform(-1, 1)), feather=float(rng.uniform(0, 1)),
                                      mask=str(rng.choice(["hull", "aligned"])), regrain=bool(rng.random() < 0.5))
            summary["cases"] += 1
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            try:
                try:
                    tf = load_track_file(path)
                except TrackFileError:
                    summary["refused"] += 1
                    continue
                info = tf.plate
                try:
                    check_windows(plate, info.display_window, info.data_window[:2], info.pixel_aspect, "fuzz")
                except FaceplateError:
                    summary["refused"] += 1
                    continue
                settings.validate()
                renderer = FrameRenderer(engine, colour, settings)
                layers = renderer.layers(plate, faces_at(tf, frame_no, None))
                dw = plate.data_window
                acc = accumulate(plate.pixels.shape[:2], (dw.xmin, dw.ymin), layers)
                out = composite(plate, layers, accumulated=acc)
                outside = acc.full_matte() == 0
                before = plate.pixels[..., :3].view(np.uint32)[outside]
                after = out.pixels[..., :3].view(np.uint32)[outside]
                if not np.array_equal(before, after):
                    summary["failures"].append(f"case {i} ({what}): pixels changed outside the matte")
                elif not np.isfinite(out.pixels[..., :3][~outside]).all():
                    summary["failures"].append(f"case {i} ({what}): NaN/Inf in the swapped face")
                summary["rendered"] += 1
            except _Timeout:
                summary["failures"].append(f"case {i} ({what}): no result in {timeout_s} s")
            except Exception as exc:  # noqa: BLE001 - any other exception is the failure being looked for
                tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
                summary["failures"].append(f"case {i} ({what}): {tb}"[:300])
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, old)
    return summary
