"""Checks run before analyze/render, the same in Nuke (shown with nuke.message) and on the farm
(a FaceplateError: one line, non-zero exit). Pure: no nuke import."""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Optional, Sequence

from faceplate.core.errors import FaceplateError
from faceplate.core.filesystem import sha256_file

log = logging.getLogger(__name__)


def frame_path(pattern: str, frame: int) -> str:
    """``plate.####.exr`` / ``%04d`` / ``@@@`` → the file of ``frame``."""
    def hashes(m: "re.Match[str]") -> str:
        return f"{frame:0{len(m.group(0))}d}"
    out = re.sub(r"%0?(\d*)d", lambda m: f"{frame:0{int(m.group(1) or 1)}d}", pattern)
    return re.sub(r"#+|@+", hashes, out)


def check_sources(sources: Sequence[str], where: str) -> None:
    if not [s for s in sources if s]:
        raise FaceplateError(f"{where}: no source image set; set 'source image' on the FaceSwap node "
                             f"(or connect the source input) and try again")
    for s in sources:
        if s and not os.path.isfile(s):
            raise FaceplateError(f"{s}: source image not found; fix 'source image' on {where}")


def check_cache_writable(cache_dir: str, where: str) -> None:
    if not cache_dir:
        raise FaceplateError(f"{where}: the cache folder is empty; set 'cache folder' on the FaceSwap node")
    path = Path(cache_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FaceplateError(f"{cache_dir}: cache folder cannot be created ({exc.strerror}); "
                             f"choose a writable 'cache folder' on {where}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise FaceplateError(f"{cache_dir}: cache folder is not writable; choose a writable 'cache folder' "
                             f"on {where}")


def check_analysis(track_path: str, plate_pattern: str, first_frame: int, where: str) -> None:
    """The track file exists and is newer than the plate's first frame."""
    if not os.path.isfile(track_path):
        raise FaceplateError(f"{track_path}: analysis missing; press Analyze on {where} "
                             f"(or submit with the analyze task) first")
    plate_file = frame_path(plate_pattern, first_frame)
    if os.path.isfile(plate_file) and os.path.getmtime(plate_file) > os.path.getmtime(track_path):
        raise FaceplateError(f"{track_path}: analysis is older than the plate ({plate_file} changed since); "
                             f"press Analyze on {where} again")


def model_sha256(model: Optional[str]) -> Optional[str]:
    """sha256 of the swap model as this machine resolves it (None: built-in / unknown here)."""
    if not model:
        return None
    if os.path.sep in model or model.endswith(".onnx") or os.path.isfile(model):
        if not os.path.isfile(model):
            raise FaceplateError(f"{model}: swap model file not found on this machine; fix 'model file' or "
                                 f"make the path visible to the farm")
        return sha256_file(model)
    try:
        from faceplate.core.models.manifest import registry  # lazily: registry lookup only, no model loading
        entry = registry().get(model)
    except Exception as exc:  # registry not available in this install: nothing to compare
        log.debug("model registry unavailable (%s); model hash not checked", exc)
        return None
    return entry.sha256 if entry is not None else None


def check_model_hash(model: Optional[str], expected: Optional[str], where: str) -> None:
    if not expected:
        return
    actual = model_sha256(model)
    if actual is not None and actual != expected:
        raise FaceplateError(f"{model}: model sha256 here is {actual[:12]}… but {where} was analysed with "
                             f"{expected[:12]}…; install the same model on this machine or re-analyze")
