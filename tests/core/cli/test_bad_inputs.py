"""The bad-input catalogue (issue 12): one table of (case, command, expected one-line message).

Every row runs the real CLI in-process and must give: exit 2, exactly one ``faceplate: error:``
line matching the message, no traceback, every input's sha256 unchanged, and no file added,
changed or left half-written anywhere in the shot's folder (rows whose run legitimately finishes
frames before the failure name them in ``leaves``).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from faceplate.core.cli import main
from tests.core.small_shot import make_small_shot



@pytest.fixture(scope="module")
def shot(tmp_path_factory, package_faces):
    return make_small_shot(tmp_path_factory.mktemp("catalogue"), package_faces.person(2),
                           package_faces.astronaut)


def _track(shot, edit) -> str:
    data = json.loads(Path(shot.track).read_text())
    text = edit(data)
    path = shot.folder / "bad.track.json"
    path.write_text(text if isinstance(text, str) else json.dumps(data))
    return str(path)


def _scale_landmarks(factor: float):
    def edit(data):
        for entry in data["tracks"][0]["frames"].values():
            entry["landmarks"] = [[x * factor, y * factor] for x, y in entry["landmarks"]]
    return edit


def _set_first_landmark(value: str):
    def edit(data):
        text = json.dumps(data)
        first = data["tracks"][0]["frames"]["1001"]["landmarks"][0][0]
        return text.replace(json.dumps(first), value, 1)
    return edit


def _wrong_kind_parser(folder: Path) -> str:
    """A 4-D-input ONNX model that is not a parser: (1,3,112,112) -> (1,512), like a recognizer."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
         helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("Tile", ["f", "reps"], ["y"])],
        "recognizer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 510])],
        [helper.make_tensor("reps", TensorProto.INT64, [2], [1, 170])])
    path = folder / "recognizer.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return str(path)


def _nan_embedding(folder: Path) -> str:
    path = folder / "nan.npy"
    np.save(path, np.full(512, np.nan, np.float32))
    return str(path)


def _mixed_resolution(shot) -> str:
    """A copy of the plate whose middle frame is another size."""
    import OpenImageIO as oiio

    folder = shot.folder / "mixed"
    folder.mkdir(exist_ok=True)
    for f in shot.frames:
        shutil.copy(shot.pattern.replace("####", f"{f:04d}"), folder / f"plate.{f:04d}.exr")
    buf = oiio.ImageBuf(str(folder / "plate.1002.exr"))
    big = oiio.ImageBufAlgo.resize(buf, roi=oiio.ROI(0, 240, 0, 180, 0, 1, 0, 4))
    big.write(str(folder / "plate.1002.exr"))
    return str(folder / "plate.####.exr")


def _enospc(monkeypatch, suffix: str):
    real = os.replace

    def replace(src, dst, *a, **k):
        if str(dst).endswith(suffix):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, "replace", replace)


def _unreadable_inputs(folder: Path) -> list[str]:
    bad = folder / "junk"
    bad.mkdir(exist_ok=True)
    (bad / "clip.mp4").write_bytes(b"not a video" * 10)
    return [str(bad / "clip.mp4")]


# (case, argv builder (shot, tmp) -> argv, expected message regex, setup(monkeypatch) or None, leaves)
def _cases():
    R = lambda s, *a: ["render", s.pattern, "--track", s.track, "--source", s.source, *a]  # noqa: E731
    out = lambda t: str(t / "out" / "o.####.exr")  # noqa: E731
    return [
        # data destroyed with exit 0 before issue 12
        ("analyze -o a plate frame", lambda s, t: ["analyze", s.pattern, "-o", s.pattern.replace("####", "1002")],
         r"-o .*plate\.1002\.exr: would overwrite input PLATE", None, ()),
        ("contact sheet = track file", lambda s, t: R(s, "--out", out(t), "--contact-sheet", s.track),
         r"--contact-sheet .*shot\.track\.json: would overwrite input --track", None, ()),
        ("contact sheet = source photo", lambda s, t: R(s, "--out", out(t), "--contact-sheet", s.source),
         r"--contact-sheet .*source\.png: would overwrite input --source", None, ()),
        ("--out = --patch", lambda s, t: R(s, "--out", out(t), "--patch", out(t)),
         r"--patch .*: would overwrite output --out", None, ()),
        ("--out = the plate", lambda s, t: R(s, "--out", s.pattern),
         r"--out .*plate\.####\.exr: would overwrite input PLATE", None, ()),
        ("swap --track = source photo", lambda s, t: ["swap", s.pattern, "--source", s.source, "--track", s.source,
                                                      "--out", out(t)],
         r"--track .*source\.png: would overwrite input --source", None, ()),
        ("--out over the embedding", lambda s, t: R(s, "--source-embedding", _nan_embedding(t), "--patch", out(t),
                                                    "--contact-sheet", str(t / "nan.npy")),
         r"--contact-sheet .*nan\.npy: would overwrite input --source-embedding", None, ()),
        ("mixed-resolution frame", lambda s, t: ["render", _mixed_resolution(s), "--track", s.track,
                                                 "--source", s.source, "--out", out(t)],
         r"plate\.1002\.exr: display window \[0, 0, 239, 179\] vs \[0, 0, 191, 143\]", None, ()),
        # hangs before issue 12
        ("--erode=-100", lambda s, t: R(s, "--out", out(t), "--erode=-100"),
         r"--erode -100: must be a number from -1 to 1", None, ()),
        ("--erode 1e308", lambda s, t: R(s, "--out", out(t), "--erode", "1e308"),
         r"--erode 1e\+308: must be a number from -1 to 1", None, ()),
        ("--erode=-1e308", lambda s, t: R(s, "--out", out(t), "--erode=-1e308"),
         r"--erode -1e\+308: must be a number from -1 to 1", None, ()),
        ("--feather 1e6", lambda s, t: R(s, "--out", out(t), "--feather", "1e6"),
         r"--feather 1e\+06: must be a number from 0 to 1", None, ()),
        ("landmarks x1000", lambda s, t: ["render", s.pattern, "--track", _track(s, _scale_landmarks(1000)),
                                          "--source", s.source, "--out", out(t)],
         r"bad\.track\.json: tracks\[0\]\.frames\.1001\.landmarks: point .* more than 2 frame sizes outside",
         None, ()),
        ("huge-but-finite landmark", lambda s, t: ["render", s.pattern, "--track",
                                                   _track(s, _set_first_landmark("1e300")), "--source", s.source,
                                                   "--out", out(t)],
         r"tracks\[0\]\.frames\.1001\.landmarks: point \[1e\+300, .* outside the plate", None, ()),
        ("JSON integer beyond float", lambda s, t: ["render", s.pattern, "--track",
                                                    _track(s, _set_first_landmark("1" + "0" * 400)),
                                                    "--source", s.source, "--out", out(t)],
         r"landmarks\[0\]\[0\]: expected a number in the float range, got a huge integer", None, ()),
        ("--frames 1-100000000", lambda s, t: R(s, "--out", out(t), "--frames", "1-100000000"),
         r"frame range '1-100000000' has more than 1,000,000 frames", None, ()),
        ("sample --count 1e11", lambda s, t: ["sample", str(t / "sample"), "--count", "100000000000"],
         r"--count 100000000000: must be from 1 to 10000 frames", None, ()),
        # tracebacks before issue 12
        ("disk full: analyze track file", lambda s, t: ["analyze", s.pattern, "-o", str(t / "a.track.json")],
         r"a\.track\.json: cannot write \(No space left on device\)",
         lambda mp: _enospc(mp, ".track.json"), ()),
        ("disk full: contact sheet", lambda s, t: R(s, "--out", out(t), "--contact-sheet", str(t / "sheet.png")),
         r"sheet\.png: cannot write \(No space left on device\)", lambda mp: _enospc(mp, ".png"),
         ("out/o.1001.exr", "out/o.1002.exr", "out/o.1003.exr")),
        ("output frame is a folder", lambda s, t: (os.makedirs(t / "out" / "o.1002.exr"), R(s, "--out", out(t)))[1],
         r"--out .*o\.####\.exr: .*o\.1002\.exr is a folder", None, ()),
        ("dataset build -o <file>", lambda s, t: ["dataset", "build", s.pattern, "-o", s.track, "--workers", "0"],
         r"-o .*shot\.track\.json: is a file, not a folder", None, ()),
        ("parser of the wrong kind", lambda s, t: R(s, "--out", out(t), "--mask", "parser", "--parser",
                                                    _wrong_kind_parser(t)),
         r"recognizer\.onnx: not a face parser", None, ()),
        ("analyze: parser of the wrong kind",
         lambda s, t: ["analyze", s.pattern, "-o", str(t / "a.track.json"), "--parser", _wrong_kind_parser(t)],
         r"recognizer\.onnx: not a face parser", None, ()),
        ("analyze: unknown parser region",
         lambda s, t: ["analyze", s.pattern, "-o", str(t / "a.track.json"), "--parser", "x.onnx",
                       "--parser-regions", "glasses,specs"],
         r"--parser-regions: unknown face region 'specs'", None, ()),
        ("analyze: parser file missing",
         lambda s, t: ["analyze", s.pattern, "-o", str(t / "a.track.json"), "--parser", str(t / "none.onnx")],
         r"none\.onnx: face parser model not found", None, ()),
        ("all-NaN --source-embedding", lambda s, t: ["render", s.pattern, "--track", s.track,
                                                     "--source-embedding", _nan_embedding(t), "--out", out(t)],
         r"nan\.npy: 512 of its 512 values are NaN/Inf", None, ()),
        ("dataset build, every input unreadable",
         lambda s, t: ["dataset", "build", *_unreadable_inputs(t), "-o", str(t / "ds"), "--workers", "0"],
         r"no input could be read \(1 skipped", None, None),
        ("farm submit --dry-run = the script", lambda s, t: ["farm", "submit", "--engine", "opencue", "--nk",
                                                             s.track, "--node", "FaceSwap1", "--dry-run", s.track],
         r"--dry-run .*shot\.track\.json: is a file, not a folder", None, ()),
        # already one-line before issue 12 (kept so they stay that way)
        ("missing plate frame", lambda s, t: ["render", str(t / "nowhere.####.exr"), "--track", s.track,
                                              "--source", s.source, "--out", out(t)],
         r"plate frame 1001 missing: .*nowhere\.1001\.exr", None, ()),
        ("bad frame range text", lambda s, t: R(s, "--out", out(t), "--frames", "10-1"),
         r"bad frame range '10-1'", None, ()),
        ("track file not JSON", lambda s, t: ["render", s.pattern, "--track", _track(s, lambda d: "{oops"),
                                              "--source", s.source, "--out", out(t)],
         r"bad\.track\.json: not valid JSON at line 1", None, ()),
        ("no #### in --out", lambda s, t: R(s, "--out", str(t / "out" / "single.exr")),
         r"single\.exr: has no frame number placeholder but 3 frames", None, ()),
        ("--likeness 2", lambda s, t: R(s, "--out", out(t), "--likeness", "2"),
         r"--likeness 2(\.0)?: must be a number from 0 to 1", None, ()),
        ("frames outside the track", lambda s, t: R(s, "--out", out(t), "--frames", "1-5"),
         r"frame 1 outside the analysed range 1001-1003", None, ()),
    ]


CASES = _cases()


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case,argv,message,setup,leaves", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_destroys_nothing(case, argv, message, setup, leaves, shot, tmp_path,
                                                          monkeypatch, capsys):
    args = argv(shot, tmp_path)  # builds this row's bad inputs
    before_shot, before_tmp = _tree(shot.folder), _tree(tmp_path)
    if setup:
        setup(monkeypatch)
    rc = main(args)
    monkeypatch.undo()
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("faceplate: error:")]
    assert rc == 2, (case, err)
    assert len(errors) == 1 and "Traceback" not in err, (case, err)
    assert re.search(message, errors[0]), (case, errors[0])
    assert "RuntimeWarning" not in err
    assert _tree(shot.folder) == before_shot, f"{case}: the shot's files changed"
    after = _tree(tmp_path)
    added = {k for k in after if k not in before_tmp}
    changed = {k for k in before_tmp if after.get(k) != before_tmp[k]}
    assert not changed, (case, changed)
    if leaves is not None:  # None: the command owns its output folder (a dataset's state and report)
        assert added == set(leaves), (case, added)
    assert not [k for k in after if ".tmp" in k], (case, after)
