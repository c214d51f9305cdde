"""What a new user meets in the first hour: inputs checked before long work, missing extras named,
commercial model files explained (issue 13)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceplate.core.cli.__init__ import main
from tests.package_faces import write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory, package_faces) -> Path:
    return write_video(tmp_path_factory.mktemp("clip") / "shot.mp4", package_faces.person(2), frames=2)


def test_swap_checks_its_source_before_the_analysis(clip, tmp_path, monkeypatch, capsys):
    def no_analysis(*_a, **_k):
        raise AssertionError("the analysis ran before the source was checked")
    monkeypatch.setattr("faceplate.core.analyze.pipeline.analyze", no_analysis)
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((256, 256, 3), 90, np.uint8))
    out = tmp_path / "out"
    emb = tmp_path / "e.npy"
    np.save(emb, np.ones(128, np.float32))
    cases = {"no source": [], "no face": ["--source", str(blank)], "missing": ["--source", str(tmp_path / "x.jpg")],
             "classical from an embedding": ["--source-embedding", str(emb)]}
    for name, extra in cases.items():
        rc = main(["swap", str(clip), "--out", str(out / "o.####.exr"), *extra])
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.startswith("faceplate: error:")]
        assert rc == 2 and len(lines) == 1, (name, err)
        assert not out.exists(), name
    assert "--source" in _last_error(["swap", str(clip), "--out", str(out / "o.####.exr")], capsys)
    assert "wall.png" in _last_error(["swap", str(clip), "--source", str(blank), "--out", str(out / "o.####.exr")],
                                     capsys)


def _last_error(argv, capsys) -> str:
    main(argv)
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("faceplate: error:")][-1]


_BLOCKING_CLI = textwrap.dedent("""
    import sys
    blocked = set(sys.argv[1].split(","))

    class Uninstalled:  # as if the optional extra's packages were never installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Uninstalled())
    from faceplate.core.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def _without(modules: str, *argv: str, env: dict = None) -> tuple[int, list[str]]:
    r = subprocess.run([sys.executable, "-c", _BLOCKING_CLI, modules, *argv], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, [ln for ln in r.stderr.splitlines() if ln.startswith("faceplate: error:")]


def test_missing_extras_are_one_line_naming_the_extra(tmp_path):
    cfg = tmp_path / "identity.yaml"
    cfg.write_text("data: faces\n")
    ckpt = tmp_path / "step_00000010.safetensors"
    ckpt.write_bytes(b"not really")
    cases = {
        "train": (("yaml", "train", "identity", "--config", str(cfg)), "train"),
        "export": (("torch", "export", str(ckpt), "-o", str(tmp_path / "m.onnx")), "train"),
        "gui": (("PySide6,PySide2", "dataset", "gui"), "gui"),
        "farm": (("outline", "farm", "submit", "--engine", "opencue", "--nk", str(tmp_path / "shot.nk"),
                  "--node", "FaceSwap1"), "farm"),
    }
    for name, ((blocked, *argv), extra) in cases.items():
        rc, lines = _without(blocked, *argv)
        assert rc == 2 and len(lines) == 1, (name, lines)
        assert f'pip install "faceplate[{extra}]"' in lines[0], (name, lines[0])
    assert not (tmp_path / "m.onnx").exists()


def test_export_names_a_missing_checkpoint_before_torch(tmp_path):
    rc, lines = _without("torch", "export", str(tmp_path / "nope.safetensors"), "-o", str(tmp_path / "m.onnx"))
    assert rc == 2 and len(lines) == 1 and "nope.safetensors" in lines[0] and "not found" in lines[0], lines


def test_dataset_gui_without_a_display_is_a_message_not_an_abort():
    env = {k: "" for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "faceplate.core.cli", "dataset", "gui"], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("faceplate: error:")]
    assert r.returncode == 2 and len(lines) == 1 and "display" in lines[0], (r.returncode, r.stderr)


def test_models_list_shows_swapper_and_parser_slots(capsys, monkeypatch, tmp_path):
    from faceplate.core.models.locate import MODEL_PATH_ENV
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path))
    (tmp_path / "swappers").mkdir()
    (tmp_path / "swappers" / "simswap_224.onnx").write_bytes(b"x")  # found in a sub-folder
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    for name, licence in (("inswapper_128", "NON-COMMERCIAL"), ("simswap_224", "CC BY-NC 4.0"),
                          ("simswap_512", "CC BY-NC 4.0"), ("bisenet_parser", "CelebAMask-HQ")):
        assert name in rows and licence in rows[name], name
    assert "$FACEPLATE_MODEL_PATH" in out and "deepinsight/insightface" in out and "neuralchen/SimSwap" in out
    assert "zllrunning/face-parsing.PyTorch" in out
    assert str(tmp_path / "swappers" / "simswap_224.onnx") in out
    assert "not found (put inswapper_128.onnx in a $FACEPLATE_MODEL_PATH folder)" in out


def test_commercial_advice_files_say_where_they_go_and_come_from(clip, tmp_path, monkeypatch, capsys):
    from faceplate.core.models.locate import MODEL_PATH_ENV
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path / "models"))
    rc = main(["analyze", str(clip), "-o", str(tmp_path / "t.json"), "--landmarker", "PFLD_GhostOne_112_1_opt_sim.onnx"])
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("faceplate: error:")]
    assert rc == 2 and "PFLD_GhostOne_112_1_opt_sim.onnx" in line and "$FACEPLATE_MODEL_PATH" in line
    assert "AnthonyF333/PFLD_GhostOne" in line and "Apache-2.0" in line and str(tmp_path / "models") in line
    assert not (tmp_path / "t.json").exists()
    (tmp_path / "models").mkdir()  # once there (here a corrupt copy), the bare name finds it
    (tmp_path / "models" / "PFLD_GhostOne_112_1_opt_sim.onnx").write_bytes(b"truncated download")
    rc = main(["analyze", str(clip), "-o", str(tmp_path / "t.json"), "--landmarker", "PFLD_GhostOne_112_1_opt_sim.onnx"])
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("faceplate: error:")]
    assert rc == 2 and "sha256 mismatch" in line and str(tmp_path / "models") in line

    from faceplate.core.render.engines.neural import load_swapper
    from faceplate.core.errors import ModelError
    with pytest.raises(ModelError) as err:
        load_swapper("inswapper_128")
    message = str(err.value)
    assert "inswapper_128.onnx" in message and "$FACEPLATE_MODEL_PATH" in message
    assert "deepinsight/insightface" in message and "NON-COMMERCIAL" in message
