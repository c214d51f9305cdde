"""examples/faceswap_example.nk: parsed headless, and rendered on the sample plate without Nuke."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faceplate.core.cli.__init__ import main
from faceplate.nuke import farm
from faceplate.nuke.settings import FaceSwapSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "faceswap_example.nk"


def test_example_script_parses_headless():
    s = FaceSwapSettings.from_nk(EXAMPLE, "FaceSwap1")
    here = EXAMPLE.parent
    # project_directory is [python {nuke.script_directory()}]: relative paths resolve beside the script
    assert s.plate == f"{here}/faceplate_sample/plate.####.exr"   # `faceplate sample`'s pattern
    assert s.sources == [f"{here}/faceplate_sample/source.png"]
    assert s.frames == "1001-1024" and s.model is None
    job = farm.job_from_nk(str(EXAMPLE), "FaceSwap1", chunk=8)
    assert job.chunks() == [(1001, 1008), (1009, 1016), (1017, 1024)]


@pytest.fixture(scope="module")
def example_shot(tmp_path_factory):
    """The example script beside a 2-frame sample plate, analysed as the farm's analyze task does."""
    from faceplate.core.cli.sample import make_sample

    root = tmp_path_factory.mktemp("example")
    nk = root / EXAMPLE.name
    shutil.copy(EXAMPLE, nk)
    make_sample(str(root / "faceplate_sample"), frames=2)
    assert main(FaceSwapSettings.from_nk(nk, "FaceSwap1").analyze_argv([], frames="1001-1002")) == 0
    return nk


def _check_patches(nk: Path) -> None:
    import OpenImageIO as oiio

    for f in (1001, 1002):
        path = nk.parent / "faceplate_sample" / "cache" / "patch" / f"FaceSwap1.{f}.exr"
        spec = oiio.ImageInput.open(str(path)).spec()
        assert list(spec.channelnames) == ["R", "G", "B", "A"]
        assert (spec.full_width, spec.full_height) == (1024, 576)     # display window = the plate's
        assert spec.width < 1024 and spec.getattribute("faceplate/track_sha256")


def test_farm_render_command_line(example_shot):
    """`faceplate farm render --nk example.nk --node FaceSwap1 --frames 1001-1002`: no Nuke, no other flags."""
    assert main(["farm", "render", "--nk", str(example_shot), "--node", "FaceSwap1", "--frames", "1001-1002"]) == 0
    _check_patches(example_shot)
