"""Checks run before analyze/render, the same in Nuke (shown with nuke.message) and on the farm
(a one-line error, exit 2). Standard library only: no nuke, no faceplate.core (runs in Nuke's Python)."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Mapping, Optional, Sequence

from faceplate.nuke.errors import NodeError


def frame_path(pattern: str, frame: int) -> str:
    """``plate.####.exr`` / ``%04d`` / ``@@@`` → the file of ``frame``."""
    def hashes(m: "re.Match[str]") -> str:
        return f"{frame:0{len(m.group(0))}d}"
    out = re.sub(r"%0?(\d*)d", lambda m: f"{frame:0{int(m.group(1) or 1)}d}", pattern)
    return re.sub(r"#+|@+", hashes, out)


def check_sources(sources: Sequence[str], where: str) -> None:
    if not [s for s in sources if s]:
        raise NodeError(f"{where}: no source image set; set 'source image' on the FaceSwap node "
                             f"(or connect the source input) and try again")
    for s in sources:
        if s and not os.path.isfile(s):
            raise NodeError(f"{s}: source image not found; fix 'source image' on {where}")


def check_cache_writable(cache_dir: str, where: str) -> None:
    if not cache_dir:
        raise NodeError(f"{where}: the cache folder is empty; set 'cache folder' on the FaceSwap node")
    path = Path(cache_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NodeError(f"{cache_dir}: cache folder cannot be created ({exc.strerror}); "
                             f"choose a writable 'cache folder' on {where}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise NodeError(f"{cache_dir}: cache folder is not writable; choose a writable 'cache folder' "
                             f"on {where}")


def check_analysis(track_path: str, plate_pattern: str, first_frame: int, where: str) -> None:
    """The track file exists and is newer than the plate's first frame."""
    if not os.path.isfile(track_path):
        raise NodeError(f"{track_path}: analysis missing; press Analyze on {where} "
                             f"(or submit with the analyze task) first")
    plate_file = frame_path(plate_pattern, first_frame)
    if os.path.isfile(plate_file) and os.path.getmtime(plate_file) > os.path.getmtime(track_path):
        raise NodeError(f"{track_path}: analysis is older than the plate ({plate_file} changed since); "
                             f"press Analyze on {where} again")


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_sha256(model: Optional[str], registry: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """sha256 of the swap model as this machine resolves it: a file's own hash, a registry name's
    recorded hash (``registry``: name → sha256, from ``faceplate models list --json``), else None."""
    if not model:
        return None
    if os.path.sep in model or "/" in model or model.endswith(".onnx") or os.path.isfile(model):
        if not os.path.isfile(model):
            raise NodeError(f"{model}: swap model file not found on this machine; fix 'model file' or "
                                 f"make the path visible to the farm")
        return sha256_file(model)
    return (registry or {}).get(model)


def check_model_hash(model: Optional[str], expected: Optional[str], where: str,
                     registry: Optional[Mapping[str, str]] = None) -> None:
    if not expected:
        return
    actual = model_sha256(model, registry)
    if actual is not None and actual != expected:
        raise NodeError(f"{model}: model sha256 here is {actual[:12]}… but {where} was analysed with "
                             f"{expected[:12]}…; install the same model on this machine or re-analyze")


def check_farm_visible_cache(cache_dir: str, where: str) -> None:
    """A cache in the temp folder (a node made before the script was saved) is local to this machine."""
    unsaved_default = os.path.realpath(os.path.join(tempfile.gettempdir(), "faceplate"))  # host.default_cache_dir
    if os.path.realpath(cache_dir) == unsaved_default:
        raise NodeError(f"{cache_dir}: the cache folder is in this machine's temp folder (the node was made "
                             f"before the script was saved), which the farm cannot see; set 'cache folder' on "
                             f"{where} to a shared path, then Submit again")
