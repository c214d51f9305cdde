"""Farm jobs for a FaceSwap node: one analyze task, then chunked render tasks depending on it.

Job building in faceplate's environment (no nuke import; Nuke's Submit runs `faceplate farm submit`):
``FarmJob`` holds argv lists with ``{start}``/``{end}``
placeholders; each engine swaps in its own frame tokens:

* OpenCue: a real ``outline.Outline`` (opencue-pyoutline) with a single-frame ``ShellCommand``
  analyze layer and a chunked ``Shell`` render layer that ``depend_all``s on it, serialised to the
  Cuebot job spec (``#FRAME_START#``/``#FRAME_END#`` tokens). Nothing contacts a Cuebot until
  ``submit_opencue``.
* Deadline: job-info + plugin-info files for the CommandLine plugin (``<STARTFRAME>``/``<ENDFRAME>``),
  submitted together with ``deadlinecommand -SubmitMultipleJobs -dependent`` so the render job
  waits for the analyze job.
"""
from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from faceplate.core.errors import FaceplateError
from faceplate.core.filesystem import atomic_write_text
from faceplate.nuke.settings import FaceSwapSettings

START, END = "{start}", "{end}"
OPENCUE_TOKENS = {START: "#FRAME_START#", END: "#FRAME_END#"}
DEADLINE_TOKENS = {START: "<STARTFRAME>", END: "<ENDFRAME>"}


@dataclass
class FarmJob:
    """An engine-neutral farm job. ``render`` argv contains ``{start}``/``{end}`` placeholders."""
    name: str
    frames: tuple[int, int]
    chunk: int
    render: list[str]
    analyze: Optional[list[str]] = None
    show: str = "faceplate"
    shot: str = "shot"
    user: str = field(default_factory=lambda: _user())
    env: dict[str, str] = field(default_factory=dict)
    workdir: Optional[str] = None
    priority: int = 50
    pool: Optional[str] = None
    group: Optional[str] = None

    def __post_init__(self) -> None:
        if self.chunk < 1:
            raise FaceplateError(f"job {self.name}: chunk size must be ≥ 1 (got {self.chunk}); fix --chunk")
        if self.frames[1] < self.frames[0]:
            raise FaceplateError(f"job {self.name}: frame range {self.frames[0]}-{self.frames[1]} is empty; "
                                 f"fix --frames")

    @property
    def frame_spec(self) -> str:
        return f"{self.frames[0]}-{self.frames[1]}"

    def chunks(self) -> list[tuple[int, int]]:
        """The (start, end) of each render task, as the farm will split it."""
        a, b = self.frames
        return [(s, min(s + self.chunk - 1, b)) for s in range(a, b + 1, self.chunk)]


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER", "faceplate")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "faceplate"


def job_from_nk(nk_path: str, node_name: str, frames: Optional[tuple[int, int]] = None, chunk: int = 10,
                exe: Sequence[str] = ("faceplate",), analyze: bool = True, show: Optional[str] = None,
                shot: Optional[str] = None, settings: Optional[FaceSwapSettings] = None) -> FarmJob:
    """The farm job of a saved script's FaceSwap node. Every render task is
    ``faceplate farm render --nk S --node N --frames START-END``: it reads the saved script on the
    render node (no Nuke licence), so key edits and settings saved after submission still count."""
    nk_abs = os.path.abspath(nk_path)
    s = settings or FaceSwapSettings.from_nk(nk_abs, node_name)
    frames = frames or (s.first, s.last)
    render = [*exe, "farm", "render", "--nk", nk_abs, "--node", node_name, "--frames", f"{START}-{END}"]
    analyze_argv = s.analyze_argv(exe, frames=f"{frames[0]}-{frames[1]}") if analyze else None
    stem = _safe_name(Path(nk_abs).stem)
    return FarmJob(name=f"{stem}_{_safe_name(node_name)}", frames=frames, chunk=chunk, render=render,
                   analyze=analyze_argv, show=show or "faceplate", shot=shot or stem,
                   workdir=os.path.dirname(nk_abs))


def command_line(argv: Sequence[str], tokens: dict[str, str]) -> str:
    """One shell-safe line; frame placeholders become the engine's tokens, left unquoted."""
    words = []
    for arg in argv:
        if START in arg or END in arg:
            out = arg
            for k, v in tokens.items():
                out = out.replace(k, v)
            words.append(out)
        else:
            words.append(shlex.quote(arg))
    return " ".join(words)


# --------------------------------------------------------------------------------------------
# OpenCue
# --------------------------------------------------------------------------------------------

def opencue_outline(job: FarmJob):
    """A real pyoutline Outline: ``analyze`` (one frame) → ``render`` (chunked, depends on all of it)."""
    import outline
    from outline.modules.shell import Shell, ShellCommand

    ol = outline.Outline(job.name, frame_range=job.frame_spec, shot=job.shot, show=job.show, user=job.user)
    for k, v in job.env.items():
        ol.set_env(k, v, pre=True)
    render = Shell("render", command=command_line(job.render, OPENCUE_TOKENS), chunk=job.chunk,
                   range=job.frame_spec)
    if job.analyze:
        analyze = ShellCommand("analyze", command=command_line(job.analyze, OPENCUE_TOKENS),
                               range=str(job.frames[0]))
        ol.add_layer(analyze)
        render.depend_all(analyze)
    ol.add_layer(render)
    return ol


def opencue_spec(job: FarmJob) -> str:
    """The Cuebot job spec XML for ``job`` (commands run directly, no pycuerun wrapper)."""
    import outline.cuerun

    launcher = outline.cuerun.OutlineLauncher(opencue_outline(job), user=job.user, pause=False)
    return launcher.serialize(use_pycuerun=False)


def submit_opencue(job: FarmJob) -> list:
    """Launch on the Cuebot configured for opencue ($CUEBOT_HOSTS or opencue.yaml)."""
    import outline.cuerun

    try:
        return outline.cuerun.launch(opencue_outline(job), use_pycuerun=False, user=job.user)
    except Exception as exc:  # grpc / connection errors from pycue
        raise FaceplateError(f"OpenCue: could not submit {job.name} ({type(exc).__name__}: {str(exc)[:160]}); "
                             f"check CUEBOT_HOSTS / opencue.yaml, or use --dry-run DIR to write the spec") from None


# --------------------------------------------------------------------------------------------
# Deadline
# --------------------------------------------------------------------------------------------

def _deadline_args(argv: Sequence[str]) -> str:
    """CommandLine plugin arguments: <QUOTE> around words with spaces (Deadline's own token)."""
    words = []
    for arg in argv:
        for k, v in DEADLINE_TOKENS.items():
            arg = arg.replace(k, v)
        words.append(f"<QUOTE>{arg}<QUOTE>" if any(c.isspace() for c in arg) else arg)
    return " ".join(words)


def _info(pairs: dict[str, Any]) -> str:
    return "".join(f"{k}={v}\n" for k, v in pairs.items() if v is not None and v != "")


def deadline_files(job: FarmJob, folder: str) -> dict[str, Path]:
    """Write the job-info / plugin-info files; return them by role (analyze_job, analyze_plugin, ...)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    exe = job.render[0]
    env = {f"EnvironmentKeyValue{i}": f"{k}={v}" for i, (k, v) in enumerate(sorted(job.env.items()))}
    common = {"Plugin": "CommandLine", "BatchName": job.name, "UserName": job.user, "Priority": job.priority,
              "Pool": job.pool, "Group": job.group, **env}
    files: dict[str, Path] = {}
    if job.analyze:
        files["analyze_job"] = out / f"{job.name}.analyze.job_info.txt"
        files["analyze_plugin"] = out / f"{job.name}.analyze.plugin_info.txt"
        atomic_write_text(files["analyze_job"], _info({
            **common, "Name": f"{job.name} analyze", "Frames": job.frames[0], "ChunkSize": 1,
            "Comment": f"faceplate analyze {job.frame_spec}"}))
        atomic_write_text(files["analyze_plugin"], _info({
            "Executable": job.analyze[0], "Arguments": _deadline_args(job.analyze[1:]),
            "StartupDirectory": job.workdir, "Shell": "default", "ShellExecute": False}))
    files["render_job"] = out / f"{job.name}.render.job_info.txt"
    files["render_plugin"] = out / f"{job.name}.render.plugin_info.txt"
    atomic_write_text(files["render_job"], _info({
        **common, "Name": f"{job.name} render", "Frames": job.frame_spec, "ChunkSize": job.chunk,
        "Comment": "faceplate farm render --nk (no Nuke licence needed)"}))
    atomic_write_text(files["render_plugin"], _info({
        "Executable": exe, "Arguments": _deadline_args(job.render[1:]),
        "StartupDirectory": job.workdir, "Shell": "default", "ShellExecute": False}))
    return files


def deadline_command(files: dict[str, Path], deadlinecommand: str = "deadlinecommand") -> list[str]:
    """One ``deadlinecommand`` call submitting analyze then render, the render job dependent on it."""
    argv = [deadlinecommand, "-SubmitMultipleJobs", "-dependent"]
    if "analyze_job" in files:
        argv += ["-job", str(files["analyze_job"]), str(files["analyze_plugin"])]
    argv += ["-job", str(files["render_job"]), str(files["render_plugin"])]
    return argv


def submit_deadline(job: FarmJob, folder: str) -> str:
    files = deadline_files(job, folder)
    exe = os.environ.get("DEADLINE_COMMAND") or shutil.which("deadlinecommand")
    if not exe:
        raise FaceplateError(f"deadlinecommand not found on PATH; job files are in {folder} — set $DEADLINE_COMMAND "
                             f"or submit them with: {' '.join(deadline_command(files))}")
    result = subprocess.run(deadline_command(files, exe), capture_output=True, text=True)
    if result.returncode != 0 or "Result=Success" not in result.stdout and "JobID=" not in result.stdout:
        raise FaceplateError(f"Deadline refused {job.name}: {(result.stdout + result.stderr).strip()[-200:]}; "
                             f"the job files are in {folder}")
    return result.stdout
