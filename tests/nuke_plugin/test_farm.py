"""Farm jobs: a real OpenCue outline (no Cuebot), Deadline job files, the `faceplate farm` CLI."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from faceplate.core.cli.__init__ import main
from faceplate.nuke import farm

from .test_nk_script import write_script


@pytest.fixture
def script(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # pyoutline may touch ~/.opencue
    path = write_script(tmp_path)
    for name in ("actor one.jpg", "actor2.jpg", "actor3.jpg"):
        (tmp_path / name).write_bytes(b"jpg")
    return path


def test_job_from_nk_chunks_and_commands(script):
    job = farm.job_from_nk(str(script), "FaceSwap1", chunk=4)
    assert job.frames == (1001, 1010) and job.chunks() == [(1001, 1004), (1005, 1008), (1009, 1010)]
    assert job.render == ["faceplate", "farm", "render", "--nk", str(script), "--node", "FaceSwap1",
                          "--frames", "{start}-{end}"]
    assert job.analyze[:6] == ["faceplate", "analyze", "/plates/plate.####.exr", "--frames", "1001-1010", "-o"]
    assert job.analyze[6].endswith("/cache/FaceSwap1.track.json")
    assert job.analyze[job.analyze.index("--smoothing") + 1] == "1.5"  # animated: at the script frame, as Nuke
    with pytest.raises(Exception, match="chunk size"):
        farm.FarmJob(name="x", frames=(1, 2), chunk=0, render=["r"])


def test_opencue_outline_is_real_and_ordered(script):
    from outline import Outline
    from outline.modules.shell import Shell, ShellCommand

    job = farm.job_from_nk(str(script), "FaceSwap1", chunk=4)
    ol = farm.opencue_outline(job)
    assert isinstance(ol, Outline)
    analyze, render = ol.get_layer("analyze"), ol.get_layer("render")
    assert isinstance(analyze, ShellCommand) and isinstance(render, Shell)
    assert analyze.get_frame_range() == "1001"                     # one analyze task
    assert render.get_frame_range() == "1001-1010" and render.get_chunk_size() == 4
    assert [d.get_depend_on_layer().get_name() for d in render.get_depends()] == ["analyze"]
    cmd = render.get_arg("command")
    assert cmd.endswith("--frames #FRAME_START#-#FRAME_END#") and "--nk " in cmd
    spec = ET.fromstring(farm.opencue_spec(job).split("?>", 1)[1].split(">", 1)[1])
    layers = {l.get("name"): l for l in spec.iter("layer")}
    assert layers["render"].findtext("chunk") == "4" and layers["analyze"].findtext("range") == "1001"
    dep = spec.find("depends/depend")
    assert dep.findtext("deplayer") == "render" and dep.findtext("onlayer") == "analyze"


def test_no_analyze_job_has_only_render(script):
    job = farm.job_from_nk(str(script), "FaceSwap1", analyze=False)
    ol = farm.opencue_outline(job)
    assert [l.get_name() for l in ol.get_layers()] == ["render"]


def test_deadline_files(script, tmp_path):
    job = farm.job_from_nk(str(script), "FaceSwap1", chunk=5)
    files = farm.deadline_files(job, str(tmp_path / "dl"))
    read = {k: dict(l.split("=", 1) for l in p.read_text().splitlines()) for k, p in files.items()}
    assert read["render_job"]["Plugin"] == "CommandLine"
    assert read["render_job"]["Frames"] == "1001-1010" and read["render_job"]["ChunkSize"] == "5"
    assert read["analyze_job"]["Frames"] == "1001" and read["analyze_job"]["ChunkSize"] == "1"
    assert read["analyze_job"]["BatchName"] == read["render_job"]["BatchName"]
    args = read["render_plugin"]["Arguments"]
    assert args.startswith("farm render --nk ") and args.endswith("--frames <STARTFRAME>-<ENDFRAME>")
    assert read["render_plugin"]["Executable"] == "faceplate"
    assert "<QUOTE>" not in read["analyze_plugin"]["Arguments"]
    cmd = farm.deadline_command(files)
    assert cmd[:3] == ["deadlinecommand", "-SubmitMultipleJobs", "-dependent"]
    # analyze first, so the render job depends on it
    assert cmd.index(str(files["analyze_job"])) < cmd.index(str(files["render_job"]))


def test_command_line_quotes_paths_but_not_tokens():
    line = farm.command_line(["faceplate", "render", "--nk", "/a b/s.nk", "--frames", "{start}-{end}"],
                             farm.OPENCUE_TOKENS)
    assert line == "faceplate render --nk '/a b/s.nk' --frames #FRAME_START#-#FRAME_END#"


def test_farm_cli_dry_runs(script, tmp_path, capsys):
    out = tmp_path / "spec"
    assert main(["farm", "submit", "--engine", "opencue", "--nk", str(script), "--node", "FaceSwap1",
                 "--chunk", "3", "--dry-run", str(out)]) == 0
    xml = next(out.glob("*.opencue.xml")).read_text()
    assert "#FRAME_START#-#FRAME_END#" in xml and "<chunk>3</chunk>" in xml
    assert main(["farm", "submit", "--engine", "deadline", "--nk", str(script), "--node", "FaceSwap1",
                 "--dry-run", str(tmp_path / "dl")]) == 0
    printed = capsys.readouterr().out
    assert "-SubmitMultipleJobs -dependent" in printed
    assert len(list((tmp_path / "dl").glob("*.txt"))) == 4


def test_farm_cli_refuses_bad_input(script, tmp_path, capsys):
    (tmp_path / "actor2.jpg").unlink()
    code = main(["farm", "submit", "--engine", "deadline", "--nk", str(script), "--node", "FaceSwap1",
                 "--dry-run", str(tmp_path / "dl")])
    assert code == 2
    assert "actor2.jpg: source image not found" in capsys.readouterr().err
    (tmp_path / "actor2.jpg").write_bytes(b"jpg")
    code = main(["farm", "submit", "--engine", "deadline", "--nk", str(script), "--node", "FaceSwap1",
                 "--no-analyze", "--dry-run", str(tmp_path / "dl")])
    assert code == 2
    assert "analysis missing" in capsys.readouterr().err


def test_farm_cli_frames_single_or_bad(script, tmp_path, capsys):
    # a single frame is a range of one; bad text is a one-line error (exit 2), not a ValueError traceback
    assert main(["farm", "submit", "--engine", "deadline", "--nk", str(script), "--node", "FaceSwap1",
                 "--frames", "1003", "--dry-run", str(tmp_path / "dl")]) == 0
    assert "Frames=1003-1003" in next((tmp_path / "dl").glob("*.render.job_info.txt")).read_text()
    capsys.readouterr()
    assert main(["farm", "submit", "--engine", "deadline", "--nk", str(script), "--node", "FaceSwap1",
                 "--frames", "abc", "--dry-run", str(tmp_path / "dl")]) == 2
    assert "--frames 'abc': not a frame range" in capsys.readouterr().err
