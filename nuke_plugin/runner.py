"""Run the ``faceplate`` executable from Nuke: off the main thread, cancellable at once, clean env.

Standard library only. The heavy work (analysis, render, model lists, thumbnails) happens in the
executable the studio installs in its own environment; Nuke's Python only starts it. The child
gets Nuke's environment minus the variables that would make *its* Python load Nuke's (or break
Qt/OpenCV): ``PYTHONPATH``, ``PYTHONHOME`` and friends.
"""
from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import subprocess
import threading
import time
from typing import Callable, Iterable, Optional, Sequence

from faceplate.nuke.errors import NodeError

EXE_ENV = "FACEPLATE_EXE"
# Startup variables of Nuke's interpreter (and its Qt) that must not reach faceplate's Python.
NUKE_ONLY_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONEXECUTABLE",
                 "PYTHONNOUSERSITE", "QT_PLUGIN_PATH", "QT_QPA_PLATFORM_PLUGIN_PATH")
_PROGRESS = re.compile(r"(\d+)/(\d+) frames")


def faceplate_exe(knob_value: str = "") -> list[str]:
    """How to run faceplate: the node's knob, else $FACEPLATE_EXE (both split like a shell line),
    else ``faceplate`` on PATH. Never Nuke's own Python."""
    text = (knob_value or "").strip() or os.environ.get(EXE_ENV, "").strip()
    if text:
        return shlex.split(text)
    found = shutil.which("faceplate")
    if found:
        return [found]
    raise NodeError(f"the faceplate executable is not set: set ${EXE_ENV} (printed by `faceplate nuke setup`) or "
                    f"the FaceSwap node's 'faceplate executable' knob (Advanced tab)")


def child_environment(env: Optional[dict] = None) -> dict[str, str]:
    source = dict(os.environ if env is None else env)
    return {k: v for k, v in source.items() if k not in NUKE_ONLY_ENV}


def progress_percent(line: str) -> Optional[int]:
    m = _PROGRESS.search(line)
    return int(100 * int(m.group(1)) / max(int(m.group(2)), 1)) if m else None


def _pump(stream: Iterable[str], lines: "queue.Queue[Optional[str]]") -> None:
    for line in stream:
        lines.put(line.rstrip())
    lines.put(None)


def run_commands(commands: Sequence[Sequence[str]], cwd: str, on_line: Callable[[str], None] = lambda _: None,
                 cancelled: Callable[[], bool] = lambda: False, poll_s: float = 0.05) -> list[str]:
    """Run each argv in turn; return the output lines. Cancel is polled every ``poll_s`` seconds
    whatever the child prints (it terminates the child at once); a failure is a NodeError carrying
    the core's own error line."""
    output: list[str] = []
    for argv in commands:
        verb = " ".join([argv[1]] + [a for a in argv[2:3] if a.isalpha()]) if len(argv) > 1 else argv[0]
        try:
            proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    cwd=cwd, env=child_environment())
        except OSError as exc:
            raise NodeError(f"{argv[0]}: cannot run faceplate ({exc.strerror}); install it or set ${EXE_ENV}") from None
        lines: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        while True:
            if cancelled():
                _stop(proc)
                raise NodeError(f"faceplate {verb} cancelled; finished frames are kept, Render resumes")
            try:
                line = lines.get(timeout=poll_s)
            except queue.Empty:
                continue
            if line is None:
                break
            if line:
                output.append(line)
                on_line(line)
        code = proc.wait()
        if code != 0:
            detail = next((ln for ln in reversed(output) if "error" in ln.lower()), output[-1] if output else "")
            raise NodeError(f"`faceplate {verb}` failed (exit {code}): {detail.strip()[:300]}")
    return output


def _stop(proc: "subprocess.Popen[str]") -> None:
    proc.terminate()
    deadline = time.monotonic() + 3.0
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
